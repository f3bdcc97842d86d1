// Serves the admin application over HTTP on its own address; close() is idempotent and ends
// keep-alive connections so shutdown is prompt. A failed accept (out of file descriptors) is
// logged and the API keeps listening.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { surviveAcceptErrors } from '../net/accept-errors.ts';
import type { AdminApp } from './app.ts';

export class AdminServer {
  readonly #server: Server;
  readonly #host: string;
  readonly #port: number;
  readonly #logger: Logger | undefined;
  #closed: Promise<void> | undefined;

  constructor(app: AdminApp, listen: { host: string; port: number }, logger?: Logger) {
    this.#server = createAdaptorServer({ fetch: app.fetch }) as Server;
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
