// createSelfSigned (src/net/self-signed.ts): the server's first-start certificate, hand-encoded in
// DER, checked with Node's X.509 parser, a TLS handshake and, when installed, openssl.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { createSelfSigned, type SelfSignedOptions } from '../../src/net/self-signed.ts';

const OPTIONS: SelfSignedOptions = {
  commonName: 'muon-server',
  dnsNames: ['localhost', 'tunnel.example'],
  ips: ['127.0.0.1', '::1', '2001:db8::8a2e:370:7334'],
  notBefore: new Date('2024-03-01T12:34:56.789Z'),
  notAfter: new Date('2034-03-01T12:34:56Z'),
};

/** A certificate made from OPTIONS with `overrides`, as Node's own parser reads it, and its key. */
function parse(overrides: Partial<SelfSignedOptions> = {}): { x509: X509Certificate; key: string } {
  const { cert, key } = createSelfSigned({ ...OPTIONS, ...overrides });
  return { x509: new X509Certificate(cert), key };
}

/** A short DER element holding ASCII text. */
function der(tag: number, text: string): Buffer {
  return Buffer.concat([Buffer.from([tag, text.length]), Buffer.from(text, 'ascii')]);
}

/** Whether a client trusting only the certificate accepts it from a server on 127.0.0.1. */
async function handshake(options: { servername?: string }): Promise<boolean> {
  const { cert, key } = createSelfSigned(OPTIONS);
  const server = createServer({ cert, key }, (socket) => socket.end());
  let socket: TLSSocket | undefined;
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    socket = connect({ host: '127.0.0.1', port, ca: cert, ...options });
    await once(socket, 'secureConnect');
    return socket.authorized;
  } finally {
    socket?.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('createSelfSigned', () => {
  test('returns a PEM certificate in 64-character lines and a PKCS#8 PEM key', () => {
    const { cert, key } = createSelfSigned(OPTIONS);
    const lines = cert.trimEnd().split('\n');
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    assert.equal(lines.at(-1), '-----END CERTIFICATE-----');
    for (const line of lines.slice(1, -2)) assert.equal(line.length, 64);
    assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  test('is signed by its own key with ecdsa-with-SHA256', () => {
    const { x509 } = parse();
    assert.equal(x509.verify(x509.publicKey), true);
    assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  test('pairs the certificate with the returned private key', () => {
    const { x509, key } = parse();
    assert.equal(x509.checkPrivateKey(createPrivateKey(key)), true);
  });

  test('names the common name as both subject and issuer', () => {
    const { x509 } = parse();
    assert.equal(x509.subject, 'CN=muon-server');
    assert.equal(x509.issuer, 'CN=muon-server');
  });

  test('lists the DNS names and IPv4 and IPv6 addresses as subject alternative names', () => {
    const { x509 } = parse();
    assert.equal(
      x509.subjectAltName,
      'DNS:localhost, DNS:tunnel.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, ' +
        'IP Address:2001:DB8:0:0:0:8A2E:370:7334',
    );
  });

  test('omits subjectAltName when there are no names', () => {
    const { x509 } = parse({ dnsNames: [], ips: [] });
    assert.equal(x509.subjectAltName, undefined);
    assert.equal(x509.verify(x509.publicKey), true);
  });

  test('rejects an IP address that is not one, and a DNS name that is not ASCII', () => {
    assert.throws(() => createSelfSigned({ ...OPTIONS, ips: ['300.1.1.1'] }), TypeError);
    assert.throws(() => createSelfSigned({ ...OPTIONS, dnsNames: ['bücher.example'] }), TypeError);
  });

  test('is valid between notBefore and notAfter, to the second', () => {
    const { x509 } = parse();
    assert.deepEqual(x509.validFromDate, new Date('2024-03-01T12:34:56Z'));
    assert.deepEqual(x509.validToDate, new Date('2034-03-01T12:34:56Z'));
  });

  test('encodes dates from 2050 on as GeneralizedTime', () => {
    const { x509 } = parse({
      notBefore: new Date('2049-12-31T23:59:59Z'),
      notAfter: new Date('2050-01-01T00:00:00Z'),
    });
    assert.deepEqual(x509.validFromDate, new Date('2049-12-31T23:59:59Z'));
    assert.deepEqual(x509.validToDate, new Date('2050-01-01T00:00:00Z'));
    assert.ok(x509.raw.includes(der(0x18, '20500101000000Z')), 'GeneralizedTime, four-digit year');
    assert.ok(x509.raw.includes(der(0x17, '491231235959Z')), 'UTCTime, two-digit year');
  });

  test('is not a CA and is usable for TLS server authentication', () => {
    const { x509 } = parse();
    assert.equal(x509.ca, false);
    assert.deepEqual(x509.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  });

  test('carries the SHA-1 of its public key point as subject key identifier', () => {
    const { x509 } = parse();
    const point = x509.publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    assert.ok(x509.raw.includes(createHash('sha1').update(point).digest()));
  });

  test('draws a fresh positive 16-byte serial number for each certificate', () => {
    const serials = [parse().x509.serialNumber, parse().x509.serialNumber];
    assert.notEqual(serials[0], serials[1]);
    for (const serial of serials) assert.match(serial, /^[4-7][0-9A-F]{31}$/);
  });

  test('encodes a common name longer than 127 bytes with long-form lengths', () => {
    const commonName = 'é'.repeat(150);
    const { x509 } = parse({ commonName });
    assert.equal(x509.subject, `CN=${commonName}`);
    assert.equal(x509.verify(x509.publicKey), true);
  });

  test('passes a TLS client check of the DNS name it lists', async () => {
    assert.equal(await handshake({ servername: 'localhost' }), true);
  });

  test('passes a TLS client check of the IP address it lists', async () => {
    assert.equal(await handshake({}), true);
  });

  test('fails a TLS client check of a name it does not list', async () => {
    await assert.rejects(handshake({ servername: 'other.example' }), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  const openssl = spawnSync('openssl', ['version']).error === undefined;
  test('is readable by openssl', { skip: openssl ? false : 'openssl is not on PATH' }, () => {
    const { cert } = createSelfSigned(OPTIONS);
    const out = spawnSync('openssl', ['x509', '-noout', '-text'], { input: cert, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /Version: 3 \(0x2\)/);
    assert.match(out.stdout, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(out.stdout, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(out.stdout, /TLS Web Server Authentication/);
  });
});
