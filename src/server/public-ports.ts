// Public TCP listeners, one per mapped port. A port is routed to a handler; rebinding a port to
// a new handler (a client that reconnects and takes over) swaps the route without closing the
// listener, so there is never a "port already in use" window.

import { createServer, type Server, type Socket } from 'node:net';
import { MuonError } from '../errors.ts';

export type VisitorHandler = (visitor: Socket) => void;

interface Entry {
  server: Server;
  handler: VisitorHandler;
  listening: Promise<void>;
}

export class PublicPorts {
  readonly #host: string;
  readonly #entries = new Map<number, Entry>();

  constructor(host: string) {
    this.#host = host;
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
    server.on('connection', (visitor) => entry.handler(visitor));
    entry.listening = new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        if (this.#entries.get(port) === entry) this.#entries.delete(port);
        reject(
          new MuonError(
            error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
            `cannot listen on ${this.#host}:${port}: ${error.code ?? error.message}`,
          ),
        );
      });
      server.listen({ host: this.#host, port }, () => resolve());
    });
    this.#entries.set(port, entry);
    return entry.listening;
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
