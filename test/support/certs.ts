// Test certificates made on the fly with @peculiar/x509: one CA per test run and leaf
// certificates for any DNS names and validity, as PEM, so HTTPS tests can verify what they get.

import { KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { loadX509 } from './x509.ts';

export interface TestCertificate {
  /** PEM: the leaf, then the CA. */
  cert: string;
  /** PEM private key of the leaf. */
  key: string;
  /** PEM of the CA that signed it (for `ca:` in clients). */
  ca: string;
}

interface Ca {
  cert: string;
  keys: webcrypto.CryptoKeyPair;
  name: string;
}

let ca: Promise<Ca> | undefined;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

async function testCa(): Promise<Ca> {
  ca ??= (async () => {
    const x509 = await loadX509();
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const name = 'CN=Muon Test CA';
    const certificate = await x509.X509CertificateGenerator.createSelfSigned(
      {
        name,
        keys,
        notBefore: new Date(Date.now() - DAY),
        notAfter: new Date(Date.now() + 30 * DAY),
        signingAlgorithm: SIGNING,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ],
      },
      webcrypto,
    );
    return { cert: new X509Certificate(Buffer.from(certificate.rawData)).toString(), keys, name };
  })();
  return ca;
}

/**
 * A leaf certificate for `names` (the first is also the common name), signed by the test CA;
 * `ips` adds IP addresses to its names.
 */
export async function makeCertificate(
  names: string[],
  options: { notBefore?: Date; notAfter?: Date; ips?: string[] } = {},
): Promise<TestCertificate> {
  const x509 = await loadX509();
  const authority = await testCa();
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: Date.now().toString(16) + Math.floor(Math.random() * 1e6).toString(16),
      subject: `CN=${names[0] ?? 'nothing'}`,
      issuer: authority.name,
      notBefore: options.notBefore ?? new Date(Date.now() - DAY),
      notAfter: options.notAfter ?? new Date(Date.now() + 7 * DAY),
      publicKey: keys.publicKey,
      signingKey: authority.keys.privateKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...names.map((value) => ({ type: 'dns' as const, value })),
          ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
        ]),
      ],
    },
    webcrypto,
  );
  const leaf = new X509Certificate(Buffer.from(certificate.rawData)).toString();
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert: leaf + authority.cert, key, ca: authority.cert };
}
