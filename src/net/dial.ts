// Opens one client→server tunnel connection (command or proxy channel): TCP, then TLS verified
// by a pinned certificate fingerprint and/or a CA. Resolves only once the server is verified,
// so no application byte can reach an impostor; failures say whether they are TLS problems
// (MuonError) or plain network errors the caller should retry.

import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, checkServerIdentity, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { MuonError } from '../errors.ts';
import { fingerprintMatches, fingerprintOf, formatFingerprint, parseFingerprint } from './fingerprint.ts';
import { isOutOfFiles, openFileLimit } from './out-of-files.ts';

export interface ClientTlsOptions {
  /** SHA-256 fingerprint of the server certificate (hex, colons optional). */
  fingerprint?: string;
  /** PEM of a CA that signed the server certificate. */
  ca?: string;
  /** Name to verify in the certificate when using `ca` (defaults to the server host). */
  servername?: string;
}

export interface DialOptions {
  host: string;
  port: number;
  /** How to verify the server, or false for plain TCP. */
  tls: ClientTlsOptions | false;
  /** Bound on TCP connect plus TLS handshake. */
  timeoutMs: number;
  /**
   * A session from `onSession` of an earlier dial with the same `tls` options, to resume. Any
   * other buffer (a copy, or one from a dial with other options) is ignored: a full handshake
   * with full verification takes place.
   */
  session?: Buffer;
  /**
   * Receives each session ticket the verified server issues (TLS 1.3 sends them after the
   * handshake, so this stays subscribed for the socket's life). Tickets are held back until the
   * server is verified.
   */
  onSession?: (session: Buffer) => void;
  /** Aborting destroys the connection attempt and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Keep-alive is a backstop for idle NAT entries; heartbeats detect dead peers. */
const KEEPALIVE_INITIAL_DELAY_MS = 30_000;

/**
 * The verification each session we handed out was issued under. A resumed handshake carries no
 * certificate (Node exposes none), so the pin cannot be re-checked: instead a session is only
 * offered to a dial that verifies exactly as the one that produced it did. Resumption itself
 * proves the server holds the ticket key of the server verified then.
 */
const sessionTrust = new WeakMap<Buffer, string>();

/**
 * Resolves with a connected socket (a TLSSocket when TLS) ready for application data, with
 * Nagle off and TCP keep-alive on. The caller must attach its own 'error' listener at once.
 *
 * Rejects with: MUON_ERR_CONFIG (bad options), MUON_ERR_FINGERPRINT_MISMATCH, MUON_ERR_TLS
 * (handshake or verification failed), MUON_ERR_HANDSHAKE_TIMEOUT (connected, but TLS did not
 * finish in time), MUON_ERR_OUT_OF_FILES (no descriptor for the socket), an Error with code
 * ETIMEDOUT (no TCP connection in time), or Node's own network error (ECONNREFUSED, ECONNRESET,
 * ENOTFOUND, …), which is transient.
 */
export function dialTunnel(o: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const where = isIP(o.host) === 6 ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`;
    if (!(Number.isFinite(o.timeoutMs) && o.timeoutMs > 0)) {
      reject(new MuonError('MUON_ERR_CONFIG', `Invalid dial timeout: ${o.timeoutMs}`));
      return;
    }
    let pinned: Buffer | undefined;
    if (o.tls !== false) {
      if (o.tls.fingerprint === undefined && o.tls.ca === undefined) {
        reject(
          new MuonError(
            'MUON_ERR_CONFIG',
            'TLS to the server needs a certificate fingerprint to pin or a CA to verify with',
          ),
        );
        return;
      }
      if (o.tls.fingerprint !== undefined) {
        try {
          pinned = parseFingerprint(o.tls.fingerprint);
        } catch (error) {
          reject(error);
          return;
        }
      }
    }
    if (o.signal?.aborted) {
      reject(o.signal.reason);
      return;
    }

    const trust = o.tls === false ? '' : trustOf(o.host, o.tls, pinned);
    const session = o.session !== undefined && sessionTrust.get(o.session) === trust ? o.session : undefined;
    const socket =
      o.tls === false ? tcpConnect({ host: o.host, port: o.port }) : connectTls(o, o.tls, session);
    let tcpConnected = false;
    let settled = false;
    // Tickets seen before the server is verified could come from an impostor: hold them back.
    let heldSessions: Buffer[] | undefined = [];
    const onSession = o.onSession;

    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('secureConnect', onSecureConnect);
      socket.off('error', onError);
      socket.off('close', onClose);
      o.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      cleanup();
      if (onSession !== undefined) socket.off('session', onSessionEvent);
      // A late error from the dying handle must not become an uncaught exception.
      socket.on('error', ignore);
      socket.destroy();
      reject(error);
    };
    const succeed = () => {
      if (settled) return;
      cleanup();
      const early = heldSessions ?? [];
      heldSessions = undefined;
      resolve(socket);
      if (onSession !== undefined) for (const session of early) onSession(session);
    };

    function onConnect() {
      tcpConnected = true;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS);
      if (o.tls === false) succeed();
    }
    function onSecureConnect() {
      if (pinned !== undefined && !(socket as TLSSocket).isSessionReused()) {
        const presented = (socket as TLSSocket).getPeerX509Certificate()?.raw;
        if (presented === undefined || !fingerprintMatches(presented, pinned)) {
          fail(
            new MuonError(
              'MUON_ERR_FINGERPRINT_MISMATCH',
              `Server ${where} presented a certificate with fingerprint ` +
                `${presented === undefined ? '(none)' : fingerprintOf(presented)} ` +
                `but the pinned fingerprint is ${formatFingerprint(pinned)}`,
            ),
          );
          return;
        }
      }
      succeed();
    }
    function onSessionEvent(ticket: Buffer) {
      sessionTrust.set(ticket, trust);
      if (heldSessions !== undefined) heldSessions.push(ticket);
      else onSession?.(ticket);
    }
    function onError(error: Error) {
      fail(classify(error, o.tls !== false && tcpConnected, where));
    }
    function onClose() {
      fail(Object.assign(new Error(`Connection to ${where} closed during setup`), { code: 'ECONNRESET' }));
    }
    function onAbort() {
      fail(o.signal?.reason);
    }

    const timer = setTimeout(() => {
      if (tcpConnected)
        fail(
          new MuonError(
            'MUON_ERR_HANDSHAKE_TIMEOUT',
            `TLS handshake with ${where} did not finish within ${o.timeoutMs} ms`,
          ),
        );
      else
        fail(
          Object.assign(new Error(`Dial ${where}: timeout after ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' }),
        );
    }, o.timeoutMs);
    socket.on('connect', onConnect);
    if (o.tls !== false) socket.on('secureConnect', onSecureConnect);
    if (o.tls !== false && onSession !== undefined) socket.on('session', onSessionEvent);
    socket.on('error', onError);
    socket.on('close', onClose);
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function trustOf(host: string, tls: ClientTlsOptions, pinned: Buffer | undefined): string {
  return `${pinned?.toString('hex') ?? ''}\n${tls.servername ?? host}\n${tls.ca ?? ''}`;
}

function connectTls(o: DialOptions, tls: ClientTlsOptions, session: Buffer | undefined): TLSSocket {
  const name = tls.servername ?? o.host;
  const options: ConnectionOptions = {
    host: o.host,
    port: o.port,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  };
  // SNI must not carry an IP address (RFC 6066); identity is still checked against `name`.
  if (isIP(name) === 0) options.servername = name;
  if (session !== undefined) options.session = session;
  if (tls.ca !== undefined) {
    options.ca = tls.ca;
    options.rejectUnauthorized = true;
    options.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  } else {
    // Pinning alone: the fingerprint check on secureConnect is the whole verification.
    options.rejectUnauthorized = false;
    options.checkServerIdentity = () => undefined;
  }
  return tlsConnect(options);
}

/**
 * Network failures stay Node's errors (transient); anything else after TCP connect is TLS. Lack
 * of descriptors gets its own code, so that it is not mistaken for the server being unreachable.
 */
function classify(error: Error, duringTls: boolean, where: string): Error {
  const { code, syscall } = error as NodeJS.ErrnoException;
  if (isOutOfFiles(error)) {
    return new MuonError(
      'MUON_ERR_OUT_OF_FILES',
      `cannot open a connection to ${where}: ${code} (open-file limit ${openFileLimit()})`,
      { cause: error },
    );
  }
  if (!duringTls || typeof syscall === 'string' || code === 'ECONNRESET' || code === 'EPIPE') return error;
  const reason = code === undefined ? error.message : `${error.message} (${code})`;
  return new MuonError('MUON_ERR_TLS', `TLS with server ${where} failed: ${reason}`, { cause: error });
}

function ignore(): void {}
