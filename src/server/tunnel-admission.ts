// Admits tunnel connections, from their TCP accept to the end of their handshake. The per-address
// failure limit and the cap on handshakes in progress apply at accept, before any TLS; one clock,
// `handshakeTimeoutMs` from accept, covers the TLS handshake and AUTH or PROXY_HELLO together.

import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FailureLimiter } from '../net/failure-limiter.ts';
import { PREAMBLE } from '../protocol/frame-types.ts';
import { encodeMessage } from '../protocol/messages.ts';
import type { TunnelObserver } from './observer.ts';
import { acceptHandshake, type HandshakeResult } from './tunnel-handshake.ts';

export interface AdmissionOptions {
  maxFrameSize: number;
  handshakeTimeoutMs: number;
  maxPendingHandshakes: number;
  failures: FailureLimiter;
  observer: TunnelObserver;
  logger: Logger;
  /** A connection finished its handshake; a rejection counts as a failed handshake. */
  onHandshake: (result: HandshakeResult) => Promise<void> | void;
}

interface Pending {
  remote: string;
  acceptedAt: number;
  /** What close() destroys: the raw TCP socket, then the TLSSocket once TLS is up. */
  socket: Socket;
  /** Set while the TLS handshake runs: its end is reported once, by the first to see it. */
  onRawClose?: () => void;
}

const RATE_LIMITED = Buffer.concat([
  PREAMBLE,
  encodeMessage({
    type: 'ERROR',
    code: 'MUON_ERR_RATE_LIMITED',
    message: 'too many attempts; try again later',
  }),
]);

export class TunnelAdmission {
  readonly #o: AdmissionOptions;
  readonly #pending = new Set<Pending>();
  /**
   * Connections in their TLS handshake, by the peer's address and port: Node hands the raw socket
   * to 'connection' and a TLSSocket to 'secureConnection' and 'tlsClientError', and this is what
   * they share (unique among live connections to one listener).
   */
  readonly #inTls = new Map<string, Pending>();
  #closed = false;

  constructor(options: AdmissionOptions) {
    this.#o = options;
  }

  /** 'connection' on the plain listener. */
  plain(socket: Socket): void {
    const remote = socket.remoteAddress ?? '';
    if (this.#closed) return void socket.destroy();
    if (this.#refused(remote)) {
      socket.on('error', () => {});
      socket.end(RATE_LIMITED);
      socket.setTimeout(1000, () => socket.destroy());
      return;
    }
    const entry = this.#admit(socket, remote);
    this.#handshake(entry, socket, this.#o.handshakeTimeoutMs);
  }

  /** 'connection' on the TLS listener: the raw TCP socket, before the TLS handshake. */
  tlsAccepted(raw: Socket): void {
    raw.on('error', () => {}); // the TLSSocket on top reports it
    const key = peerKey(raw);
    const remote = raw.remoteAddress ?? '';
    // Before TLS there is no way to send a Muon ERROR: a refused connection is just closed.
    if (this.#closed || key === undefined || this.#refused(remote)) return void raw.destroy();
    const entry = this.#admit(raw, remote);
    entry.onRawClose = () => {
      if (this.#inTls.get(key) !== entry) return;
      this.#inTls.delete(key);
      this.#failed(entry, new MuonError('MUON_ERR_PEER_ERROR', 'connection closed during the TLS handshake'));
    };
    raw.once('close', entry.onRawClose);
    this.#inTls.set(key, entry);
  }

  /** 'secureConnection': the TLS handshake is done; AUTH or PROXY_HELLO must follow in the time left. */
  tlsReady(socket: TLSSocket): void {
    const key = peerKey(socket);
    const entry = key === undefined ? undefined : this.#inTls.get(key);
    if (!entry || key === undefined || this.#closed) return void socket.destroy();
    this.#inTls.delete(key);
    if (entry.onRawClose) entry.socket.off('close', entry.onRawClose);
    entry.socket = socket;
    const left = entry.acceptedAt + this.#o.handshakeTimeoutMs - performance.now();
    this.#handshake(entry, socket, Math.max(1, Math.round(left)));
  }

  /**
   * 'tlsClientError': the TLS handshake failed or timed out. Node leaves the socket open (even
   * after its own handshake timeout), so it is destroyed here.
   */
  tlsFailed(error: Error, socket: TLSSocket): void {
    // Read before destroy(): a destroyed socket may no longer know its peer.
    const key = peerKey(socket);
    socket.destroy();
    const entry = key === undefined ? undefined : this.#inTls.get(key);
    // Not found: refused at accept, or its close was already reported.
    if (!entry || key === undefined) return;
    this.#inTls.delete(key);
    entry.socket.destroy();
    this.#failed(entry, new MuonError(tlsErrorCode(error), `TLS handshake failed: ${error.message}`));
  }

  /** Closes every connection still in its handshake. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#inTls.clear();
    for (const entry of this.#pending) entry.socket.destroy();
  }

  #refused(remote: string): boolean {
    if (!this.#o.failures.blocked(remote) && this.#pending.size < this.#o.maxPendingHandshakes) return false;
    this.#o.logger.info({ code: 'MUON_ERR_RATE_LIMITED', remote }, 'tunnel connection refused');
    this.#o.observer.handshakeFailed('MUON_ERR_RATE_LIMITED', remote);
    return true;
  }

  #admit(socket: Socket, remote: string): Pending {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const entry: Pending = { remote, acceptedAt: performance.now(), socket };
    this.#pending.add(entry);
    return entry;
  }

  #handshake(entry: Pending, socket: Socket, timeoutMs: number): void {
    acceptHandshake(socket, { maxFrameSize: this.#o.maxFrameSize, timeoutMs })
      .then((result) => this.#o.onHandshake(result))
      .catch((error: unknown) => this.#failed(entry, error))
      .finally(() => this.#pending.delete(entry));
  }

  #failed(entry: Pending, error: unknown): void {
    this.#pending.delete(entry);
    const code: ErrorCode = error instanceof MuonError ? error.code : 'MUON_ERR_INTERNAL';
    // A peer that just went away has not tried anything: only real failures count.
    if (code !== 'MUON_ERR_PEER_ERROR') this.#o.failures.fail(entry.remote);
    this.#o.observer.handshakeFailed(code, entry.remote);
    const level = code === 'MUON_ERR_INTERNAL' ? 'error' : 'info';
    this.#o.logger[level](
      { code, remote: entry.remote, err: (error as Error).message },
      'tunnel handshake failed',
    );
    entry.socket.destroy();
  }
}

/** Undefined once the socket no longer knows its peer (closed before anyone asked). */
function peerKey(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined
    ? undefined
    : `${remoteAddress} ${remotePort}`;
}

function tlsErrorCode(error: Error): ErrorCode {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return 'MUON_ERR_HANDSHAKE_TIMEOUT';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'MUON_ERR_PEER_ERROR';
    default:
      return 'MUON_ERR_TLS';
  }
}
