// The HTTP(S) router: one shared HTTP port and one shared HTTPS port, where TLS ends at the server
// with the certificate of the domain the visitor names (SNI). Each visitor connection is a
// VisitorConnection over the current route table (the HTTP port also answers pending ACME
// challenges); the table and the certificates are reloaded from the HttpDirectory after every
// change. close() stops both listeners and every connection. A listener survives failed accepts,
// and a visitor that took the process's last file descriptor is refused at once.

import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { surviveAcceptErrors } from '../net/accept-errors.ts';
import { descriptorTableFull, warnOutOfFiles } from '../net/out-of-files.ts';
import { NULL_OBSERVER, type TunnelObserver } from '../server/observer.ts';
import type { ListenAddress } from '../server/options.ts';
import type { ChallengeResponses } from './acme-challenge.ts';
import { BasicAuth } from './basic-auth.ts';
import type { ConnectionContext } from './connection-context.ts';
import { normalizeHostname } from './host-names.ts';
import { RouteTable } from './route-table.ts';
import type { HttpDirectory, HttpProtocol, StreamOpener } from './routes.ts';
import { SniContexts } from './sni-contexts.ts';
import { VisitorConnection } from './visitor-connection.ts';

export interface HttpRouterOptions {
  /** The shared plain-HTTP port; off when absent. */
  http?: ListenAddress;
  /** The shared HTTPS port; off when absent. */
  https?: ListenAddress;
  directory: HttpDirectory;
  tunnel: StreamOpener;
  /** Checks a basic-auth password against its argon2id hash (constant time). */
  verifyPassword: (hash: string, password: string) => Promise<boolean>;
  logger: Logger;
  /** The HTTPS port named in redirects, if visitors reach it on another one (NAT); default: the HTTPS listener's. */
  redirectPort?: number;
  /** How long a started request head may take to arrive. Default 30 s. */
  headTimeoutMs?: number;
  /** How long a kept-alive connection may wait for its next request. Default 60 s. */
  idleTimeoutMs?: number;
  /** How long a TLS handshake may take. Default 10 s. */
  tlsHandshakeTimeoutMs?: number;
  /** Pending ACME HTTP-01 challenges, answered on the HTTP port before routing by Host. */
  challenges?: ChallengeResponses;
  /**
   * Told of visitors the router itself turns away at accept (no file descriptor left); the tunnel
   * reports the rest (security group, limits, no client, target unreachable) to its own observer.
   */
  observer?: Pick<TunnelObserver, 'visitorRefused'>;
}

export const HTTP_ROUTER_DEFAULTS = {
  headTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  tlsHandshakeTimeoutMs: 10_000,
} as const;

export class HttpRouter {
  readonly #options: HttpRouterOptions;
  readonly #log: Logger;
  readonly #sni: SniContexts;
  readonly #auth: BasicAuth;
  readonly #connections = new Set<VisitorConnection>();
  /** Every accepted TCP socket, TLS handshakes under way included (closed with the router). */
  readonly #sockets = new Set<Socket>();
  readonly #servers: { http?: Server; https?: Server } = {};
  #table = new RouteTable();
  #unsubscribe: (() => void) | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed: Promise<void> | undefined;

  constructor(options: HttpRouterOptions) {
    if (!options.http && !options.https)
      throw new MuonError('MUON_ERR_CONFIG', 'no HTTP or HTTPS port configured');
    this.#options = options;
    this.#log = options.logger;
    this.#sni = new SniContexts(options.logger);
    this.#auth = new BasicAuth({ verify: options.verifyPassword });
  }

  /** Loads the routes, then opens the configured ports. */
  async listen(): Promise<void> {
    await this.#load();
    this.#unsubscribe = this.#options.directory.onChange(() => void this.reload());
    const { http, https } = this.#options;
    if (http) {
      const server = createServer({ allowHalfOpen: true, noDelay: true });
      this.#servers.http = server;
      this.#track(server, 'http', (socket) => this.#accept(socket, 'http'));
      await listen(server, http);
      surviveAcceptErrors(server, this.#log, 'the HTTP port');
    }
    if (https) {
      const server = createTlsServer({
        SNICallback: (name, done) => done(null, this.#sni.contextFor(name)),
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
        // Not half-open: a TLS server socket that is half-open may never see a client that
        // goes away right after the handshake (so it would never close).
        allowHalfOpen: false,
        handshakeTimeout: this.#options.tlsHandshakeTimeoutMs ?? HTTP_ROUTER_DEFAULTS.tlsHandshakeTimeoutMs,
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        const name = typeof socket.servername === 'string' ? normalizeHostname(socket.servername) : undefined;
        this.#accept(socket, 'https', name);
      });
      server.on('tlsClientError', (error) =>
        this.#log.debug({ code: 'MUON_ERR_HOST_UNKNOWN', err: error.message }, 'HTTPS handshake failed'),
      );
      this.#servers.https = server;
      // The TLS server wraps the socket in its own 'connection' listener, which runs first; the
      // visitor comes back in 'secureConnection' above.
      this.#track(server, 'https');
      await listen(server, https);
      surviveAcceptErrors(server, this.#log, 'the HTTPS port');
    }
  }

  get addresses(): { http?: AddressInfo; https?: AddressInfo } {
    const result: { http?: AddressInfo; https?: AddressInfo } = {};
    const http = this.#servers.http?.address();
    const https = this.#servers.https?.address();
    if (http && typeof http === 'object') result.http = http;
    if (https && typeof https === 'object') result.https = https;
    return result;
  }

  /** Visitor connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Reads the routes and certificates again (called on every directory change). Overlapping
   * calls coalesce into one more read after the current one, so the last state always wins.
   */
  reload(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    const run = async () => {
      try {
        do {
          this.#reloadAgain = false;
          await this.#load();
        } while (this.#reloadAgain && !this.#closed);
      } catch (error) {
        // The store is away: keep serving the last routes until the next change.
        this.#log.error(
          { code: 'MUON_ERR_INTERNAL', err: (error as Error).message },
          'cannot reload HTTP routes',
        );
      } finally {
        this.#reloading = undefined;
      }
    };
    this.#reloading = run();
    return this.#reloading;
  }

  async #load(): Promise<void> {
    const snapshot = await this.#options.directory.snapshot();
    this.#table = new RouteTable(snapshot);
    this.#sni.update(snapshot.domains);
  }

  /**
   * Every accepted socket, in order: refused when it took the last file descriptor (its stream to
   * the target needs a proxy channel, which the tunnel port could not accept: better refused now
   * than failed after the connect timeout), else tracked and handed to `then`.
   */
  #track(server: Server, protocol: HttpProtocol, then?: (socket: Socket) => void): void {
    const listener = protocol === 'http' ? 'the HTTP port' : 'the HTTPS port';
    server.on('connection', (socket: Socket) => {
      if (descriptorTableFull()) {
        socket.destroy();
        const observer = this.#options.observer ?? NULL_OBSERVER;
        observer.visitorRefused('MUON_ERR_OUT_OF_FILES', protocol, socket.localPort ?? 0);
        warnOutOfFiles(this.#log, `visitor refused on ${listener}`, { listener });
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      then?.(socket);
    });
  }

  #accept(socket: Socket, protocol: HttpProtocol, serverName?: string): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const listener = protocol === 'http' ? this.addresses.http : this.addresses.https;
    const httpsPort = this.#options.https
      ? (this.#options.redirectPort ?? this.addresses.https?.port)
      : undefined;
    const ctx: ConnectionContext = {
      protocol,
      listenerPort: listener?.port ?? 0,
      table: () => this.#table,
      tunnel: this.#options.tunnel,
      auth: this.#auth,
      logger: this.#log,
      headTimeoutMs: this.#options.headTimeoutMs ?? HTTP_ROUTER_DEFAULTS.headTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? HTTP_ROUTER_DEFAULTS.idleTimeoutMs,
      httpsPort,
      challenges: this.#options.challenges,
      onClosed: (connection) => this.#connections.delete(connection),
    };
    this.#connections.add(new VisitorConnection(socket, ctx, serverName));
  }

  /** Stops both listeners and closes every visitor connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#doClose();
    return this.#closed;
  }

  async #doClose(): Promise<void> {
    this.#unsubscribe?.();
    const closing = Object.values(this.#servers).map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const connection of [...this.#connections]) connection.destroy();
    for (const socket of [...this.#sockets]) socket.destroy();
    await Promise.all(closing);
    await this.#reloading;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(
        new MuonError(
          error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
          `cannot listen on ${address.host}:${address.port}: ${error.code ?? error.message}`,
        ),
      );
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
