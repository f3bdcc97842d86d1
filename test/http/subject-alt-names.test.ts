// A certificate's DNS names, read from the subjectAltName text Node's X509Certificate writes:
// entries `TYPE:value` joined by ", ", values that need it written as JSON string literals (so a
// name holding ", DNS:" never becomes two names), other entry types passed over, and text that
// cannot be read refused with a reason. Then describeCertificate, which shows these names with
// the subject and issuer on one line each.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { MuonError } from '../../src/errors.ts';
import { describeCertificate } from '../../src/http/domain-certificate.ts';
import { dnsNamesOf } from '../../src/http/subject-alt-names.ts';
import { createSelfSigned } from '../../src/net/self-signed.ts';

const HOUR = 3_600_000;

/** What Node writes as subjectAltName for a certificate with these DNS names and IP addresses. */
function nodeText(dnsNames: string[], ips: string[] = []): string | undefined {
  const now = Date.now();
  const { cert } = createSelfSigned({
    commonName: 'subject-alt-names.test',
    dnsNames,
    ips,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + HOUR),
  });
  return new X509Certificate(cert).subjectAltName;
}

/**
 * Made with `openssl req -x509` (EC P-256, ten years): subject and issuer `CN=example.com,
 * O=Example, Inc`; names DNS Example.com, *.example.com and `a,b.example`, IP 127.0.0.1, email,
 * a URI with a comma and a directory name.
 */
const OPENSSL_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIICDzCCAbWgAwIBAgIUQC9nvxz7ha4Yk5sibLKw2uiD1YcwCgYIKoZIzj0EAwIw
LTEUMBIGA1UEAwwLZXhhbXBsZS5jb20xFTATBgNVBAoMDEV4YW1wbGUsIEluYzAe
Fw0yNjExMjUwNjA4MDBaFw0zNjExMjIwNjA4MDBaMC0xFDASBgNVBAMMC2V4YW1w
bGUuY29tMRUwEwYDVQQKDAxFeGFtcGxlLCBJbmMwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARwUF2MOyzf7aJTiEv353hw+3RCnfjBIRhjES2VdMusp6FG7SypXHkd
WA72moonluANyGat04EBboM5gH04kUb0o4GyMIGvMIGNBgNVHREEgYUwgYKCC0V4
YW1wbGUuY29tgg0qLmV4YW1wbGUuY29tggthLGIuZXhhbXBsZYcEfwAAAYEObWVA
ZXhhbXBsZS5jb22GF2h0dHBzOi8vZXhhbXBsZS5jb20veCx5pCgwJjERMA8GA1UE
AwwIZGlyIG5hbWUxETAPBgNVBAoMCE9yZywgSW5jMB0GA1UdDgQWBBTk9uIkVlXB
OpbIhZ/YsSRDj13wPTAKBggqhkjOPQQDAgNIADBFAiBB4NKpqM37zWRFhxGjR1NO
5p0qGVHicr9YrQjVsyWA7QIhAPIJ4i8jFRS7VIiIea+bc8A4H3Lb04XA/KN7xaKA
xFGQ
-----END CERTIFICATE-----
`;

describe('DNS names in a subjectAltName', () => {
  test('a plain list gives every name, in order and as written', () => {
    assert.deepEqual(dnsNamesOf('DNS:example.com, DNS:www.Example.com, DNS:api.example.com.'), [
      'example.com',
      'www.Example.com',
      'api.example.com.',
    ]);
    assert.deepEqual(dnsNamesOf('DNS:example.com'), ['example.com']);
  });

  test('wildcard names are names like any other', () => {
    assert.deepEqual(dnsNamesOf('DNS:*.example.com, DNS:example.com, DNS:*.eu.example.com'), [
      '*.example.com',
      'example.com',
      '*.eu.example.com',
    ]);
  });

  test('entries of other types are passed over, whatever their value', () => {
    const text = [
      'IP Address:127.0.0.1',
      'DNS:example.com',
      'IP Address:0:0:0:0:0:0:0:1',
      'email:me@example.com',
      'URI:"https://example.com/x\\u002cy"',
      'DNS:*.example.com',
      'DirName:"O=Org\\\\\\u002c Inc\\u002cCN=dir name"',
      'othername:"XmppAddr:me\\u002cyou@example.com"',
      'othername:<unsupported>',
      'Registered ID:1.2.3.4',
    ].join(', ');
    assert.deepEqual(dnsNamesOf(text), ['example.com', '*.example.com']);
    assert.deepEqual(dnsNamesOf('IP Address:127.0.0.1, email:me@example.com'), []);
  });

  test('a JSON-quoted name is decoded, and a comma inside it never splits it', () => {
    assert.deepEqual(dnsNamesOf('DNS:"a\\u002cb.example", DNS:c.example'), ['a,b.example', 'c.example']);
    assert.deepEqual(dnsNamesOf('DNS:"a,b.example", DNS:c.example'), ['a,b.example', 'c.example']);
    // The attack of CVE-2021-44532: one name that reads like two when split at ", ".
    assert.deepEqual(dnsNamesOf('DNS:"evil.example, DNS:victim.example"'), [
      'evil.example, DNS:victim.example',
    ]);
  });

  test('an escaped quote or backslash inside a quoted name ends neither the name nor the list', () => {
    assert.deepEqual(dnsNamesOf('DNS:"say\\"hi\\".example", DNS:next.example'), [
      'say"hi".example',
      'next.example',
    ]);
    assert.deepEqual(dnsNamesOf('DNS:"back\\\\slash.example", DNS:"quote\\"", DNS:x.example'), [
      'back\\slash.example',
      'quote"',
      'x.example',
    ]);
  });

  test('no text, or empty text, means no names', () => {
    assert.deepEqual(dnsNamesOf(undefined), []);
    assert.deepEqual(dnsNamesOf(''), []);
  });

  test('reads what Node itself writes for names that must be quoted', () => {
    const names = ['a.example', 'evil.example, DNS:victim.example', 'say"hi".example', 'back\\slash.example'];
    const text = nodeText(names, ['10.0.0.1', '::1']);
    assert.match(text ?? '', /DNS:"say\\"hi\\"\.example"/, 'Node quotes the name (a check on the premise)');
    assert.deepEqual(dnsNamesOf(text), names);
    assert.equal(nodeText([]), undefined, 'no names: no extension, no text');
  });

  test('text that cannot be read is refused with MUON_ERR_INVALID_INPUT and a reason', () => {
    for (const [text, reason] of [
      ['example.com', /without a type at character 1/],
      [':example.com', /without a type at character 1/],
      ['DNS:a.example, b.example', /without a type at character 16/],
      ['DNS:a.example,DNS:b.example', /", " expected between entries at character 14/],
      ['DNS:a.example, ', /a separator ends the text/],
      ['DNS:"a.example', /unterminated quoted value at character 5/],
      ['DNS:"a.example\\"', /unterminated quoted value at character 5/],
      ['DNS:"a\\x.example"', /invalid quoted value at character 5/],
      ['DNS:"a.example"b.example', /", " expected between entries at character 16/],
    ] as const) {
      assert.throws(
        () => dnsNamesOf(text),
        (error: unknown) =>
          error instanceof MuonError && error.code === 'MUON_ERR_INVALID_INPUT' && reason.test(error.message),
        text,
      );
    }
  });
});

describe('describeCertificate', () => {
  test("lists the leaf's DNS names in lower case, other names left out", async () => {
    const info = await describeCertificate(OPENSSL_CERTIFICATE);
    assert.deepEqual(info.names, ['example.com', '*.example.com', 'a,b.example']);
  });

  test('shows subject and issuer on one line, attributes joined by ", " and commas in values escaped', async () => {
    const info = await describeCertificate(OPENSSL_CERTIFICATE);
    assert.equal(info.subject, 'CN=example.com, O=Example\\, Inc');
    assert.equal(info.issuer, 'CN=example.com, O=Example\\, Inc');
  });

  test('a certificate without subjectAltName has no names', async () => {
    const now = Date.now();
    const { cert } = createSelfSigned({
      commonName: 'bare.example',
      dnsNames: [],
      ips: [],
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + HOUR),
    });
    const info = await describeCertificate(cert);
    assert.deepEqual(info.names, []);
    assert.equal(info.subject, 'CN=bare.example');
  });
});
