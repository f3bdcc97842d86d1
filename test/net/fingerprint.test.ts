import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { MuonError } from '../../src/errors.ts';
import {
  fingerprintMatches,
  fingerprintOf,
  formatFingerprint,
  parseFingerprint,
} from '../../src/net/fingerprint.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';

const DIGEST = Buffer.from('00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210', 'hex');
const COLONS =
  '00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:23:45:67:89:AB:CD:EF:FE:DC:BA:98:76:54:32:10';

describe('parseFingerprint', () => {
  const accepted: [string, string][] = [
    ['upper-case pairs with colons', COLONS],
    ['lower-case pairs with colons', COLONS.toLowerCase()],
    ['64 bare hex digits', DIGEST.toString('hex')],
    ['64 bare upper-case hex digits', DIGEST.toString('hex').toUpperCase()],
    ['sha256: prefix', `sha256:${COLONS}`],
    ['SHA256: prefix', `SHA256:${DIGEST.toString('hex')}`],
    ['SHA-256: prefix', `SHA-256:${COLONS}`],
    ['surrounding whitespace', `  ${COLONS}\n`],
  ];
  for (const [name, text] of accepted) {
    test(`accepts ${name}`, () => {
      assert.deepEqual(parseFingerprint(text), DIGEST);
    });
  }

  const rejected: [string, string][] = [
    ['an empty string', ''],
    ['31 pairs', COLONS.slice(3)],
    ['33 pairs', `${COLONS}:00`],
    ['63 hex digits', DIGEST.toString('hex').slice(1)],
    ['65 hex digits', `${DIGEST.toString('hex')}0`],
    ['a non-hex digit', `${COLONS.slice(0, -1)}G`],
    ['mixed separators', `${COLONS.slice(0, 3)}${COLONS.slice(3).replaceAll(':', '')}`],
    ['spaces between pairs', COLONS.replaceAll(':', ' ')],
    ['a trailing colon', `${COLONS}:`],
    ['another digest prefix', `md5:${COLONS}`],
    ['a SHA-1 fingerprint', COLONS.slice(0, 59)],
  ];
  for (const [name, text] of rejected) {
    test(`rejects ${name} with MUON_ERR_CONFIG`, () => {
      assert.throws(
        () => parseFingerprint(text),
        (error: unknown) =>
          error instanceof MuonError &&
          error.code === 'MUON_ERR_CONFIG' &&
          /SHA-256 fingerprint/.test(error.message),
      );
    });
  }

  test('does not echo the rejected value (it may be a misplaced secret)', () => {
    const secret = 'lic_super-secret-license-key-value';
    assert.throws(
      () => parseFingerprint(secret),
      (error: unknown) => error instanceof MuonError && !error.message.includes(secret),
    );
  });
});

describe('formatFingerprint', () => {
  test('writes upper-case hex pairs joined by colons', () => {
    assert.equal(formatFingerprint(DIGEST), COLONS);
  });

  test('round-trips with parseFingerprint', () => {
    assert.equal(formatFingerprint(parseFingerprint(`sha256:${DIGEST.toString('hex')}`)), COLONS);
  });
});

describe('fingerprintOf and fingerprintMatches', () => {
  let pem = '';
  let otherPem = '';
  let der = Buffer.alloc(0);
  let expected = '';

  before(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'muon-fp-'));
    try {
      pem = (await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'a') })).cert;
      otherPem = (await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'b') })).cert;
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    const x509 = new X509Certificate(pem);
    der = x509.raw;
    expected = x509.fingerprint256;
  });

  test('PEM string, PEM bytes and DER all give Node’s fingerprint256', () => {
    assert.equal(fingerprintOf(pem), expected);
    assert.equal(fingerprintOf(Buffer.from(pem)), expected);
    assert.equal(fingerprintOf(der), expected);
  });

  test('a PEM chain gives the fingerprint of its first certificate', () => {
    assert.notEqual(fingerprintOf(otherPem), expected);
    assert.equal(fingerprintOf(`${pem}${otherPem}`), expected);
  });

  test('rejects a PEM that is not a certificate with MUON_ERR_CONFIG', () => {
    assert.throws(
      () => fingerprintOf('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      (error: unknown) => error instanceof MuonError && error.code === 'MUON_ERR_CONFIG',
    );
  });

  test('matches the certificate it was computed from, and only that one', () => {
    assert.equal(fingerprintMatches(der, parseFingerprint(expected)), true);
    assert.equal(fingerprintMatches(der, createHash('sha256').update(der).digest()), true);
    const other = Buffer.from(der);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 1;
    assert.equal(fingerprintMatches(other, parseFingerprint(expected)), false);
    assert.equal(fingerprintMatches(der, DIGEST), false);
  });

  test('an expected digest of the wrong length never matches (and does not throw)', () => {
    const digest = createHash('sha256').update(der).digest();
    assert.equal(fingerprintMatches(der, digest.subarray(0, 20)), false);
    assert.equal(fingerprintMatches(der, Buffer.alloc(0)), false);
  });
});
