// A domain's PEM certificate (leaf first, then its chain) and private key: read, checked before
// they are stored (each refusal names the field at fault), and described by metadata that may be
// shown (subject, issuer, DNS names, validity, SHA-256 fingerprint). The key is never described.
// The pair check alone also vets the operator's certificate for the admin API (admin.tls).

import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { MuonError } from '../errors.ts';
import { fingerprintOf } from '../net/fingerprint.ts';
import { certificateCovers, normalizeHostname } from './host-names.ts';
import { dnsNamesOf } from './subject-alt-names.ts';

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

/**
 * Builds the error for a refused certificate or key. The reason never quotes the PEM. Callers
 * other than the API (the admin listener's own certificate) name the setting their own way.
 */
export type PairFault = (field: 'certificate' | 'privateKey', reason: string, cause?: unknown) => MuonError;

const invalidInput: PairFault = (field, reason, cause) =>
  new MuonError('MUON_ERR_INVALID_INPUT', `${field}: ${reason}`, { field, cause });

function leafOf(pem: string, fault: PairFault): X509Certificate {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw fault('certificate', 'not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  const chain = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw fault('certificate', `certificate ${i + 1} in the PEM cannot be read`, error);
    }
  });
  return chain[0] as X509Certificate;
}

/** Metadata of a PEM certificate's leaf. Throws INVALID_INPUT (field certificate) unless `fault` says otherwise. */
export async function describeCertificate(
  pem: string,
  fault: PairFault = invalidInput,
): Promise<CertificateInfo> {
  const leaf = leafOf(pem, fault);
  return {
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    names: dnsNamesOfLeaf(leaf, fault).map(normalizeHostname),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: fingerprintOf(leaf.raw),
  };
}

function dnsNamesOfLeaf(leaf: X509Certificate, fault: PairFault): string[] {
  try {
    return dnsNamesOf(leaf.subjectAltName);
  } catch (error) {
    throw fault('certificate', `its subjectAltName cannot be read: ${(error as Error).message}`, error);
  }
}

/**
 * A distinguished name as Node writes it, one attribute per line (`CN=example.com\nO=Example`),
 * on one line for display: `CN=example.com, O=Example`. Commas inside values stay escaped (`\,`).
 */
function oneLine(name: string): string {
  return name
    .split('\n')
    .filter((line) => line.length > 0)
    .join(', ');
}

/**
 * Checks a PEM certificate (leaf first, then its chain) and its private key: both readable, the
 * key the leaf's, and the pair usable by TLS. Returns the leaf's metadata. Throws what `fault`
 * builds (INVALID_INPUT by default), naming the field at fault.
 */
export async function checkKeyPair(
  cert: string,
  key: string,
  fault: PairFault = invalidInput,
): Promise<CertificateInfo> {
  const info = await describeCertificate(cert, fault);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw fault('privateKey', 'not an unencrypted PEM private key (passphrases are not supported)', error);
  }
  if (!leafOf(cert, fault).checkPrivateKey(privateKey)) {
    throw fault('privateKey', 'does not belong to the certificate (the first one in the PEM)');
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw fault('certificate', `cannot be used for TLS: ${(error as Error).message}`, error);
  }
  return info;
}

/**
 * Checks a certificate and key for a base domain before they are stored: a usable pair
 * (checkKeyPair), the leaf valid at `now`, its names covering the domain (the name itself or
 * `*.domain`). Throws INVALID_INPUT naming the field.
 */
export async function checkCertificate(
  cert: string,
  key: string,
  domain: string,
  now: Date,
): Promise<CertificateInfo> {
  const info = await checkKeyPair(cert, key);
  if (now.getTime() > info.notAfter.getTime()) {
    throw invalidInput('certificate', `expired on ${info.notAfter.toISOString()}`);
  }
  if (now.getTime() < info.notBefore.getTime()) {
    throw invalidInput('certificate', `not valid before ${info.notBefore.toISOString()}`);
  }
  if (info.names.length === 0) throw invalidInput('certificate', 'names no DNS host (subjectAltName)');
  if (!certificateCovers(info.names, domain) && !info.names.includes(`*.${domain}`)) {
    throw invalidInput(
      'certificate',
      `does not cover ${domain} or *.${domain} (it names ${info.names.slice(0, 10).join(', ')})`,
    );
  }
  return info;
}
