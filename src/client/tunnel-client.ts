// The tunnel client: keeps one session with the server alive for as long as it runs.
// Transient failures (network errors, server restarts, heartbeat loss) reconnect with
// exponential backoff and jitter, forever; permanent ones (wrong license, fingerprint
// mismatch…) stop it with a 'fatal' event.
//
// Events: 'online' (mappings: MappingInfo[]), 'offline' (reason: MuonError), 'fatal' (error: MuonError).

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { isPermanent, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { dialTunnel } from '../net/dial.ts';
import { isOutOfFiles, warnOutOfFiles } from '../net/out-of-files.ts';
import { Backoff } from './backoff.ts';
import { ClientSession } from './client-session.ts';
import type { TunnelClientOptions } from './options.ts';

/** A session that lasted this long resets the backoff. */
const STABLE_SESSION_MS = 10_000;

export class TunnelClient extends EventEmitter {
  readonly #o: TunnelClientOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #session: ClientSession | undefined;
  #tlsSession: Buffer | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(options: TunnelClientOptions) {
    super();
    this.#o = options;
    this.#log = options.logger;
    this.#backoff = new Backoff(options.reconnectInitialDelayMs, options.reconnectMaxDelayMs);
  }

  /** The live session, if online. */
  get session(): ClientSession | undefined {
    return this.#session;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  #dial = (): Promise<Socket> => {
    const { host, port } = this.#o.server;
    return dialTunnel({
      host,
      port,
      tls: this.#o.tls,
      timeoutMs: this.#o.handshakeTimeoutMs,
      ...(this.#tlsSession ? { session: this.#tlsSession } : {}),
      onSession: (ticket) => {
        this.#tlsSession = ticket;
      },
    });
  };

  async #run(): Promise<void> {
    const { host, port } = this.#o.server;
    while (!this.#stopping) {
      let reason: MuonError;
      const startedAt = Date.now();
      try {
        const session = await ClientSession.open(this.#o, this.#dial);
        if (this.#stopping) {
          session.close();
          break;
        }
        this.#session = session;
        this.#log.info({ server: `${host}:${port}`, mappings: session.mappings }, 'client online');
        this.emit('online', session.mappings);
        reason = await session.ended;
        this.#session = undefined;
        if (this.#stopping) break;
        this.emit('offline', reason);
      } catch (error) {
        // Not the server's fault, though it looks like it: say what to fix before retrying.
        if (isOutOfFiles(error)) warnOutOfFiles(this.#log, `cannot connect to the server ${host}:${port}`);
        reason =
          error instanceof MuonError
            ? error
            : new MuonError(
                'MUON_ERR_PEER_ERROR',
                `cannot reach ${host}:${port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
              );
      }
      if (this.#stopping) break;
      if (isPermanent(reason.code)) {
        this.#log.error(
          { code: reason.code, err: reason.message },
          'giving up: this needs a configuration change',
        );
        this.#stopping = true;
        this.emit('fatal', reason);
        break;
      }
      if (Date.now() - startedAt >= STABLE_SESSION_MS) this.#backoff.reset();
      if (reason.code === 'MUON_ERR_SESSION_REPLACED') this.#backoff.toMax();
      const delay = this.#backoff.next();
      this.#log.warn(
        { code: reason.code, err: reason.message, retryInMs: delay },
        'disconnected; will retry',
      );
      await this.#sleep(delay);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Stops reconnecting and closes the session and every channel. Idempotent. */
  async close(): Promise<void> {
    this.#stopping = true;
    this.#session?.close();
    this.#wake?.();
    await this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
