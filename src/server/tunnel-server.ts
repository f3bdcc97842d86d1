// The tunnel server: accepts tunnel connections (TLS and/or plain), authenticates command
// channels against the Directory, attaches proxy channels to their session, and keeps live
// sessions in step with directory changes (disable, delete, key reset, mapping edits).

import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { type ErrorCode, ErrorCodes, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { surviveAcceptErrors } from '../net/accept-errors.ts';
import { FailureLimiter } from '../net/failure-limiter.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { descriptorTableFull, warnOutOfFiles } from '../net/out-of-files.ts';
import {
  clientProof,
  keyIdOf,
  newSessionId,
  proxyProof,
  sameBytes,
  serverProof,
  sessionKey,
} from '../protocol/handshake.ts';
import type { MessageOf } from '../protocol/messages.ts';
import { ClientSession } from './client-session.ts';
import { NULL_OBSERVER, type TunnelObserver } from './observer.ts';
import type { TunnelServerOptions } from './options.ts';
import { PublicPorts } from './public-ports.ts';
import { PublicUdpPorts } from './public-udp-ports.ts';
import { RawSessionBudget } from './raw-session-budget.ts';
import { TunnelAdmission } from './tunnel-admission.ts';
import type { StreamVisitor, TunnelStream } from './visitor-stream.ts';

export class TunnelServer {
  readonly #options: TunnelServerOptions;
  readonly #log: Logger;
  readonly #ports: PublicPorts;
  readonly #udpPorts: PublicUdpPorts;
  readonly #listeners: { tls?: Server; plain?: Server } = {};
  readonly #sessionsByLicense = new Map<string, ClientSession>();
  readonly #sessionsById = new Map<string, ClientSession>();
  readonly #failures: FailureLimiter;
  readonly #admission: TunnelAdmission;
  readonly #observer: TunnelObserver;
  readonly #rawSessions: RawSessionBudget;
  readonly #unsubscribe: () => void;
  /** Licenses being reconciled now; true when another change arrived meanwhile. */
  readonly #reconciling = new Map<string, boolean>();
  #closed: Promise<void> | undefined;

  constructor(options: TunnelServerOptions) {
    if (!options.tls && !options.plain)
      throw new MuonError('MUON_ERR_CONFIG', 'no tunnel listener configured');
    this.#options = options;
    this.#log = options.logger;
    this.#observer = options.observer ?? NULL_OBSERVER;
    this.#ports = new PublicPorts(options.publicHost, options.logger, this.#observer);
    this.#udpPorts = new PublicUdpPorts(options.publicHost);
    this.#rawSessions = new RawSessionBudget(options.maxRawSessions);
    this.#failures = new FailureLimiter({ maxFailures: options.maxAuthFailuresPerMinute, windowMs: 60_000 });
    this.#admission = new TunnelAdmission({
      maxFrameSize: options.maxFrameSize,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      maxPendingHandshakes: options.maxPendingHandshakes,
      failures: this.#failures,
      observer: this.#observer,
      logger: this.#log,
      onHandshake: (result) =>
        result.kind === 'command'
          ? this.#onAuth(result.framed, result.serverNonce, result.auth)
          : this.#onProxyHello(result.framed, result.serverNonce, result.hello),
    });
    this.#unsubscribe = options.directory.onChange((id) => this.#onChange(id));
  }

  async listen(): Promise<void> {
    const { tls, plain } = this.#options;
    if (tls) {
      const server = createTlsServer({
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.2',
        allowHalfOpen: false,
        // Node's own clock for the TLS part (it does not close the socket: tlsFailed does).
        handshakeTimeout: this.#options.handshakeTimeoutMs,
      });
      // Admission starts at the TCP accept: limits and the handshake clock cover the TLS handshake.
      server.on('connection', (raw: Socket) => {
        this.#admission.tlsAccepted(raw);
        this.#checkDescriptors();
      });
      server.on('secureConnection', (socket) => this.#admission.tlsReady(socket));
      server.on('tlsClientError', (error, socket) => this.#admission.tlsFailed(error, socket));
      this.#listeners.tls = server;
      await listen(server, tls.host, tls.port);
      surviveAcceptErrors(server, this.#log, 'the tunnel port');
    }
    if (plain) {
      const server = createTcpServer({ noDelay: true });
      server.on('connection', (socket) => {
        this.#admission.plain(socket);
        this.#checkDescriptors();
      });
      this.#listeners.plain = server;
      await listen(server, plain.host, plain.port);
      surviveAcceptErrors(server, this.#log, 'the plain tunnel port');
    }
  }

  /**
   * A tunnel connection that took the last file descriptor is kept (it is most likely the proxy
   * channel a waiting visitor asked for), but the connections after it will be dropped unseen
   * (see descriptorTableFull): this is the moment to say so.
   */
  #checkDescriptors(): void {
    if (descriptorTableFull()) {
      warnOutOfFiles(
        this.#log,
        'the tunnel port took the last one; new connections are dropped until some close',
      );
    }
  }

  get addresses(): { tls?: AddressInfo; plain?: AddressInfo } {
    const result: { tls?: AddressInfo; plain?: AddressInfo } = {};
    const tls = this.#listeners.tls?.address();
    const plain = this.#listeners.plain?.address();
    if (tls && typeof tls === 'object') result.tls = tls;
    if (plain && typeof plain === 'object') result.plain = plain;
    return result;
  }

  /** Live sessions (for status and tests). */
  get sessions(): ClientSession[] {
    return [...this.#sessionsByLicense.values()];
  }

  get publicPorts(): number[] {
    return this.#ports.ports;
  }

  /**
   * Opens a stream to an http/https mapping's target through its client's pooled proxy channels
   * (for the HTTP router). The visitor's real address goes in CONNECT; the mapping's security
   * group, connection and speed limits and its license's apply. Throws MuonError: NO_CLIENT when
   * the license's client is offline or does not serve the mapping, ACCESS_DENIED, CONNECTION_LIMIT.
   */
  openStream(licenseId: string, mappingId: string, visitor: StreamVisitor): TunnelStream {
    const session = this.#sessionsByLicense.get(licenseId);
    if (!session || this.#closed) {
      this.#observer.visitorRefused('MUON_ERR_NO_CLIENT', visitor.protocol, visitor.publicPort);
      throw new MuonError('MUON_ERR_NO_CLIENT', `license ${licenseId} is offline`);
    }
    return session.openStream(mappingId, visitor);
  }

  /** Mapped public UDP ports open now. */
  get publicUdpPorts(): number[] {
    return this.#udpPorts.ports;
  }

  async #onAuth(framed: FramedSocket, serverNonce: Buffer, auth: MessageOf<'AUTH'>): Promise<void> {
    const socket = framed.socket;
    const license = await this.#options.directory.findByKeyId(auth.keyId);
    const valid =
      license !== undefined &&
      sameBytes(clientProof(license.key, serverNonce, auth.clientNonce, auth.keyId), auth.proof);
    if (!license || !valid)
      return this.#refuse(framed, 'MUON_ERR_AUTH_FAILED', 'unknown license key or wrong proof');
    if (!license.enabled)
      return this.#refuse(framed, 'MUON_ERR_LICENSE_DISABLED', `license ${license.name} is disabled`);
    if (this.#closed || socket.destroyed) return void socket.destroy();

    const id = newSessionId();
    const session = new ClientSession(
      {
        options: this.#options,
        observer: this.#observer,
        ports: this.#ports,
        udpPorts: this.#udpPorts,
        logger: this.#log,
        rawSessions: this.#rawSessions,
        onClosed: (s, code, reason) => this.#forget(s, code, reason),
      },
      {
        id,
        key: sessionKey(license.key, serverNonce, auth.clientNonce, id),
        license,
        command: framed,
        minIdleChannels: auth.minIdleChannels,
        features: auth.features,
      },
    );
    const previous = this.#sessionsByLicense.get(license.id);
    this.#sessionsByLicense.set(license.id, session);
    this.#sessionsById.set(session.idHex, session);
    if (previous) {
      this.#log.info({ license: license.name }, 'client reconnected; replacing its previous session');
      void previous.close('MUON_ERR_SESSION_REPLACED', 'a newer session with this license took over');
    }
    this.#observer.sessionOpened(license, socket.remoteAddress ?? '');
    await session.start(serverProof(license.key, serverNonce, auth.clientNonce, id));
    socket.resume();
  }

  /** Ends a handshake with ERROR(code). Only the code reaches the peer; the detail stays in the log. */
  #refuse(framed: FramedSocket, code: ErrorCode, detail: string): void {
    const remote = framed.socket.remoteAddress ?? '';
    if (code === 'MUON_ERR_AUTH_FAILED' || code === 'MUON_ERR_SESSION_UNKNOWN') this.#failures.fail(remote);
    this.#observer.handshakeFailed(code, remote);
    this.#log.warn({ code, remote }, `tunnel connection refused: ${detail}`);
    framed.send({ type: 'ERROR', code, message: ErrorCodes[code] });
    framed.socket.end();
    framed.socket.setTimeout(1000, () => framed.socket.destroy());
  }

  #onProxyHello(framed: FramedSocket, serverNonce: Buffer, hello: MessageOf<'PROXY_HELLO'>): void {
    const session = this.#sessionsById.get(hello.sessionId.toString('hex'));
    if (!session || session.closed) {
      this.#refuse(framed, 'MUON_ERR_SESSION_UNKNOWN', 'proxy channel for an unknown session');
    } else if (!sameBytes(proxyProof(session.key, serverNonce, hello.sessionId), hello.proof)) {
      this.#refuse(framed, 'MUON_ERR_SESSION_UNKNOWN', 'proxy channel with a wrong proof');
    } else {
      session.addChannel(framed, hello.mux === true);
      framed.socket.resume();
    }
  }

  #forget(session: ClientSession, code: ErrorCode, reason: string): void {
    this.#observer.sessionClosed(session.license, code, reason);
    this.#sessionsById.delete(session.idHex);
    if (this.#sessionsByLicense.get(session.license.id) === session)
      this.#sessionsByLicense.delete(session.license.id);
  }

  /**
   * One reconcile per license at a time, and one more after it when changes arrived meanwhile:
   * two overlapping reads could otherwise finish out of order and leave the older state applied.
   */
  #onChange(licenseId: string): void {
    if (this.#reconciling.has(licenseId)) {
      this.#reconciling.set(licenseId, true);
      return;
    }
    this.#reconciling.set(licenseId, false);
    const run = async () => {
      try {
        do {
          this.#reconciling.set(licenseId, false);
          await this.#reconcile(licenseId);
        } while (this.#reconciling.get(licenseId) === true);
      } catch (error) {
        // The directory could not be read (a store outage): the session keeps its last state.
        this.#log.error(
          { code: 'MUON_ERR_INTERNAL', licenseId, err: (error as Error).message },
          'cannot apply a license change',
        );
      } finally {
        this.#reconciling.delete(licenseId);
      }
    };
    void run();
  }

  /** Brings a live session in step with its license after a directory change. */
  async #reconcile(licenseId: string): Promise<void> {
    const session = this.#sessionsByLicense.get(licenseId);
    if (!session) return;
    const license = await this.#options.directory.getLicense(licenseId);
    if (session.closed) return;
    if (!license) return void session.close('MUON_ERR_AUTH_FAILED', 'the license was deleted');
    if (!license.enabled) return void session.close('MUON_ERR_LICENSE_DISABLED', 'the license was disabled');
    if (!sameBytes(keyIdOf(license.key), keyIdOf(session.license.key))) {
      return void session.close('MUON_ERR_AUTH_FAILED', 'the license key was reset');
    }
    await session.update(license);
  }

  /** Stops accepting, tells every client the server is shutting down, closes all ports. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#doClose();
    return this.#closed;
  }

  async #doClose(): Promise<void> {
    this.#unsubscribe();
    const closing = Object.values(this.#listeners).map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    this.#admission.close();
    await Promise.all(this.sessions.map((s) => s.close('MUON_ERR_SHUTDOWN', 'the server is shutting down')));
    await this.#ports.close();
    await this.#udpPorts.close();
    await Promise.all(closing);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(
        new MuonError(
          error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
          `cannot listen on ${host}:${port}: ${error.code ?? error.message}`,
        ),
      );
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
