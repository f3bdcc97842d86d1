// A domain's PEM certificate (leaf first, then its chain) and private key: read, checked before
// they are stored (each refusal names the field at fault), and described by metadata that may be
// shown (subject, issuer, DNS names, validity, SHA-256 fingerprint). The key is never described.

import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { MuonError } from '../errors.ts';
import { fingerprintOf } from '../net/fingerprint.ts';
import { loadX509 } from '../net/x509.ts';
import { certificateCovers, normalizeHostname } from './host-names.ts';

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** The DNS names of the leaf (subjectAltName), lower case. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the leaf, `AB:CD:…`. */
  fingerprint: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function invalid(field: 'certificate' | 'privateKey', message: string, cause?: unknown): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `${field}: ${message}`, { field, cause });
}

function leafOf(pem: string): X509Certificate {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    throw invalid('certificate', 'not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  const chain = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw invalid('certificate', `certificate ${i + 1} in the PEM cannot be read`, error);
    }
  });
  return chain[0] as X509Certificate;
}

/** Metadata of a PEM certificate's leaf. Throws INVALID_INPUT (field certificate). */
export async function describeCertificate(pem: string): Promise<CertificateInfo> {
  const leaf = leafOf(pem);
  const x509 = await loadX509();
  const parsed = new x509.X509Certificate(leaf.raw);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const names = (san?.names.items ?? [])
    .filter((n) => n.type === 'dns')
    .map((n) => normalizeHostname(n.value));
  return {
    subject: parsed.subject,
    issuer: parsed.issuer,
    names,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: fingerprintOf(leaf.raw),
  };
}

/**
 * Checks a certificate and key for a base domain before they are stored: both readable, the key
 * the leaf's, the leaf valid at `now`, its names covering the domain (the name itself or
 * `*.domain`), and the pair usable by TLS. Throws INVALID_INPUT naming the field.
 */
export async function checkCertificate(
  cert: string,
  key: string,
  domain: string,
  now: Date,
): Promise<CertificateInfo> {
  const info = await describeCertificate(cert);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw invalid('privateKey', 'not an unencrypted PEM private key (passphrases are not supported)', error);
  }
  if (!leafOf(cert).checkPrivateKey(privateKey)) {
    throw invalid('privateKey', 'does not belong to the certificate (the first one in the PEM)');
  }
  if (now.getTime() > info.notAfter.getTime()) {
    throw invalid('certificate', `expired on ${info.notAfter.toISOString()}`);
  }
  if (now.getTime() < info.notBefore.getTime()) {
    throw invalid('certificate', `not valid before ${info.notBefore.toISOString()}`);
  }
  if (info.names.length === 0) throw invalid('certificate', 'names no DNS host (subjectAltName)');
  if (!certificateCovers(info.names, domain) && !info.names.includes(`*.${domain}`)) {
    throw invalid(
      'certificate',
      `does not cover ${domain} or *.${domain} (it names ${info.names.slice(0, 10).join(', ')})`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw invalid('certificate', `cannot be used for TLS: ${(error as Error).message}`, error);
  }
  return info;
}
