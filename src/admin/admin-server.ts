// Serves the admin application on its own address, over plain HTTP or, with a certificate, over
// HTTPS (TLS 1.2 at least); close() is idempotent and ends keep-alive connections so shutdown is
// prompt. A failed accept (out of file descriptors) is logged and the API keeps listening.
// The application is built on the first request: Hono runs on Node's fetch implementation, whose
// loading alone adds ~13 MB to the resident size of a server nobody has administered yet
// (docs/benchmarks.md, "Idle memory").

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { surviveAcceptErrors } from '../net/accept-errors.ts';
import type { AdminApp } from './app.ts';
import { statusOf } from './http-errors.ts';

/** Builds the admin application; called once, on the first request. */
export type AdminAppLoader = () => Promise<AdminApp>;
type Listener = (request: IncomingMessage, response: ServerResponse) => Promise<void> | void;

/** How long a new HTTPS connection has to finish its TLS handshake (Node's own default is 2 minutes). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface AdminListen {
  host: string;
  port: number;
  /** PEM certificate (or chain, leaf first) and key: serve HTTPS. Plain HTTP without. */
  tls?: { cert: string; key: string } | undefined;
  /** Tests shorten it; TLS_HANDSHAKE_TIMEOUT_MS otherwise. */
  tlsHandshakeTimeoutMs?: number;
}

export class AdminServer {
  readonly #server: Server;
  readonly #host: string;
  readonly #port: number;
  readonly #logger: Logger | undefined;
  #closed: Promise<void> | undefined;

  constructor(load: AdminAppLoader, listen: AdminListen, logger?: Logger) {
    const listener = lazyListener(load, logger);
    this.#server = listen.tls
      ? httpsServer(listener, listen, listen.tls, logger)
      : createHttpServer(listener);
    this.#host = listen.host;
    this.#port = listen.port;
    this.#logger = logger;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          new MuonError(
            error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
            `admin API cannot listen on ${this.#host}:${this.#port}: ${error.code ?? error.message}`,
          ),
        );
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#host, port: this.#port }, () => {
        this.#server.off('error', onError);
        if (this.#logger)
          surviveAcceptErrors(this.#server, this.#logger, `admin API ${this.#host}:${this.#port}`);
        resolve();
      });
    });
  }

  get address(): AddressInfo | undefined {
    const address = this.#server.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A request listener that loads the application (and Hono's Node adapter) on its first request;
 * requests that arrive meanwhile wait for the same load. A load that fails answers
 * MUON_ERR_INTERNAL and is tried again on the next request.
 */
function lazyListener(load: AdminAppLoader, logger: Logger | undefined): Listener {
  let ready: Promise<Listener> | undefined;
  const build = async (): Promise<Listener> => {
    const [{ getRequestListener }, app] = await Promise.all([import('@hono/node-server'), load()]);
    return getRequestListener(app.fetch);
  };
  return async (request, response) => {
    ready ??= build();
    let listener: Listener;
    try {
      listener = await ready;
    } catch (error) {
      ready = undefined;
      logger?.error({ err: (error as Error).message }, 'admin API could not start');
      const { code, message } = new MuonError('MUON_ERR_INTERNAL');
      response.writeHead(statusOf(code), { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code, message } }));
      return;
    }
    await listener(request, response);
  };
}

function httpsServer(
  listener: Listener,
  listen: AdminListen,
  tls: { cert: string; key: string },
  logger: Logger | undefined,
): Server {
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      handshakeTimeout: listen.tlsHandshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS,
    },
    listener,
  );
  // A failed or timed-out handshake (a plain-HTTP request, a scanner, a client gone quiet) is
  // routine on an exposed port: noted at debug only. Node closes such a socket itself; destroying
  // it here keeps that true whatever Node does once a listener is attached.
  server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    // Read before destroy(): a destroyed socket may no longer know its peer.
    const remote = socket.remoteAddress;
    socket.destroy();
    logger?.debug({ err: error.message, remote }, 'admin API TLS handshake failed');
  });
  return server;
}
