// Handshake cryptography (pure): the license key never crosses the wire. The client proves
// knowledge of it with an HMAC over both nonces; the server proves it back; a per-session key
// derived from both lets proxy channels prove they belong to the session. The server's fresh
// nonce in every CHALLENGE makes a recorded handshake useless for a replay.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KEY_ID_SIZE, NONCE_SIZE, SESSION_ID_SIZE } from './messages.ts';

const LABEL_KEY_ID = 'muon/1 key-id';
const LABEL_CLIENT = 'muon/1 client-proof';
const LABEL_SERVER = 'muon/1 server-proof';
const LABEL_SESSION = 'muon/1 session-key';
const LABEL_PROXY = 'muon/1 proxy-proof';

export function newNonce(): Buffer {
  return randomBytes(NONCE_SIZE);
}

export function newSessionId(): Buffer {
  return randomBytes(SESSION_ID_SIZE);
}

/** Public identifier of a license key, sent in AUTH so the server can find the license. */
export function keyIdOf(licenseKey: string): Buffer {
  return createHash('sha256')
    .update(LABEL_KEY_ID)
    .update(licenseKey, 'utf8')
    .digest()
    .subarray(0, KEY_ID_SIZE);
}

function hmac(key: string | Buffer, label: string, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key).update(label);
  for (const part of parts) h.update(part);
  return h.digest();
}

export function clientProof(
  licenseKey: string,
  serverNonce: Buffer,
  clientNonce: Buffer,
  keyId: Buffer,
): Buffer {
  return hmac(licenseKey, LABEL_CLIENT, serverNonce, clientNonce, keyId);
}

export function serverProof(
  licenseKey: string,
  serverNonce: Buffer,
  clientNonce: Buffer,
  sessionId: Buffer,
): Buffer {
  return hmac(licenseKey, LABEL_SERVER, serverNonce, clientNonce, sessionId);
}

export function sessionKey(
  licenseKey: string,
  serverNonce: Buffer,
  clientNonce: Buffer,
  sessionId: Buffer,
): Buffer {
  return hmac(licenseKey, LABEL_SESSION, serverNonce, clientNonce, sessionId);
}

export function proxyProof(key: Buffer, channelNonce: Buffer, sessionId: Buffer): Buffer {
  return hmac(key, LABEL_PROXY, channelNonce, sessionId);
}

/** Constant-time equality for proofs and ids. */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
