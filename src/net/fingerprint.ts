// SHA-256 certificate fingerprints: the form operators paste into client config (pinning),
// the form the server prints at start, and the constant-time check the client runs on the
// certificate a server presents.

import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { MuonError } from '../errors.ts';

const DIGEST_BYTES = 32;
const PREFIX = /^sha-?256:/i;
const COLON_FORM = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/i;
const BARE_FORM = /^[0-9a-f]{64}$/i;

/**
 * Parses a SHA-256 fingerprint written as `AB:CD:…` (32 pairs) or 64 bare hex digits, either
 * case, optionally prefixed by `sha256:`. Returns the 32 raw digest bytes.
 */
export function parseFingerprint(text: string): Buffer {
  const body = text.trim().replace(PREFIX, '');
  if (COLON_FORM.test(body)) return Buffer.from(body.replaceAll(':', ''), 'hex');
  if (BARE_FORM.test(body)) return Buffer.from(body, 'hex');
  // The value is not echoed: a misplaced secret (a license key pasted here) must not reach the logs.
  throw new MuonError(
    'MUON_ERR_CONFIG',
    `Invalid TLS fingerprint (${body.length} characters): expected a SHA-256 fingerprint as 32 hex pairs ` +
      'separated by colons (AB:CD:…) or 64 hex digits, optionally prefixed by "sha256:"',
  );
}

/** Formats digest bytes the way Node's `X509Certificate.fingerprint256` does: `AB:CD:…`. */
export function formatFingerprint(digest: Buffer): string {
  const hex = digest.toString('hex').toUpperCase();
  const pairs: string[] = [];
  for (let i = 0; i < hex.length; i += 2) pairs.push(hex.slice(i, i + 2));
  return pairs.join(':');
}

/** SHA-256 of a certificate given as DER bytes or PEM (the first certificate of a PEM chain). */
export function fingerprintOf(certDerOrPem: Buffer | string): string {
  return formatFingerprint(digestOf(toDer(certDerOrPem)));
}

/** Whether the SHA-256 of `actualRaw` (certificate DER) equals `expected`, in constant time. */
export function fingerprintMatches(actualRaw: Buffer, expected: Buffer): boolean {
  if (expected.length !== DIGEST_BYTES) return false;
  return timingSafeEqual(digestOf(actualRaw), expected);
}

function digestOf(der: Buffer): Buffer {
  return createHash('sha256').update(der).digest();
}

function toDer(cert: Buffer | string): Buffer {
  const isPem = typeof cert === 'string' || cert.subarray(0, 64).includes('-----BEGIN');
  if (!isPem) return cert;
  try {
    return new X509Certificate(cert).raw;
  } catch (error) {
    throw new MuonError('MUON_ERR_CONFIG', 'Not a PEM certificate', { cause: error });
  }
}
