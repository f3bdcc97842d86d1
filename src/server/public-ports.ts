// Public TCP listeners, one per mapped port. A port is routed to a handler; rebinding a port to
// a new handler (a client that reconnects and takes over) swaps the route without closing the
// listener, so there is never a "port already in use" window. A listener survives failed
// accepts, and a visitor that took the process's last file descriptor is refused at once.

import { createServer, type Server, type Socket } from 'node:net';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { surviveAcceptErrors } from '../net/accept-errors.ts';
import { descriptorTableFull, warnOutOfFiles } from '../net/out-of-files.ts';
import type { TunnelObserver } from './observer.ts';

export type VisitorHandler = (visitor: Socket) => void;

interface Entry {
  server: Server;
  handler: VisitorHandler;
  listening: Promise<void>;
}

export class PublicPorts {
  readonly #host: string;
  readonly #log: Logger;
  readonly #observer: Pick<TunnelObserver, 'visitorRefused'>;
  readonly #entries = new Map<number, Entry>();

  constructor(host: string, logger: Logger, observer: Pick<TunnelObserver, 'visitorRefused'>) {
    this.#host = host;
    this.#log = logger;
    this.#observer = observer;
  }

  /** Routes `port` to `handler`, opening a listener if none is open. Rejects with MUON_ERR_PORT_IN_USE. */
  bind(port: number, handler: VisitorHandler): Promise<void> {
    const existing = this.#entries.get(port);
    if (existing) {
      existing.handler = handler;
      return existing.listening;
    }
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true });
    const entry: Entry = { server, handler, listening: Promise.resolve() };
    server.on('connection', (visitor) => this.#accepted(visitor, port, entry));
    entry.listening = new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (this.#entries.get(port) === entry) this.#entries.delete(port);
        reject(
          new MuonError(
            error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
            `cannot listen on ${this.#host}:${port}: ${error.code ?? error.message}`,
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: this.#host, port }, () => {
        // From now on an 'error' is a failed accept: the listener stays open and routed.
        server.off('error', onError);
        surviveAcceptErrors(server, this.#log, `public port ${port}`);
        resolve();
      });
    });
    this.#entries.set(port, entry);
    return entry.listening;
  }

  /**
   * A visitor needs a second descriptor on this side for its proxy channel, unless an idle one
   * happens to be free, and the tunnel port needs one to accept it. One that leaves none would
   * wait for a channel that can never be accepted, until its connect timeout: refused now, it
   * learns at once, and the descriptor goes back to serving the visitors already admitted.
   */
  #accepted(visitor: Socket, port: number, entry: Entry): void {
    if (descriptorTableFull()) {
      visitor.destroy();
      this.#observer.visitorRefused('MUON_ERR_OUT_OF_FILES', 'tcp', port);
      warnOutOfFiles(this.#log, `visitor refused on public port ${port}`, { port });
      return;
    }
    entry.handler(visitor);
  }

  /** Closes `port` if it is still routed to `handler` (a newer owner keeps it open). */
  unbind(port: number, handler: VisitorHandler): void {
    const entry = this.#entries.get(port);
    if (!entry || entry.handler !== handler) return;
    this.#entries.delete(port);
    entry.server.close();
  }

  get ports(): number[] {
    return [...this.#entries.keys()];
  }

  async close(): Promise<void> {
    const servers = [...this.#entries.values()].map((e) => e.server);
    this.#entries.clear();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
