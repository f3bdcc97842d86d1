// The server's TLS identity: the operator's certificate and key when configured, otherwise a
// self-signed ECDSA P-256 certificate generated at first start under <dataDir>/tls and reused
// afterwards, so clients can pin its fingerprint. There is no shared default key.

import { createPrivateKey, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MuonError } from '../errors.ts';
import { fingerprintOf } from './fingerprint.ts';
import { createSelfSigned } from './self-signed.ts';

export interface TlsIdentity {
  /** PEM certificate (or chain, leaf first), as tls.createServer expects it. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** SHA-256 of the leaf certificate, `AB:CD:…`; what clients pin. */
  fingerprint: string;
  /** True when this call generated the certificate (first start). */
  generated: boolean;
}

export interface TlsIdentityOptions {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
}

const COMMON_NAME = 'muon-server';
const VALIDITY_YEARS = 10;
/** notBefore is backdated so a client whose clock is slightly behind still accepts the certificate. */
const BACKDATE_MS = 60 * 60 * 1000;

export async function loadOrCreateTlsIdentity(o: TlsIdentityOptions): Promise<TlsIdentity> {
  if (o.certFile !== undefined || o.keyFile !== undefined) {
    if (o.certFile === undefined || o.keyFile === undefined) {
      throw new MuonError(
        'MUON_ERR_CONFIG',
        'TLS certificate and key must be configured together (got only the ' +
          `${o.certFile === undefined ? 'key' : 'certificate'} file)`,
      );
    }
    const cert = await readConfigured(o.certFile, 'certificate');
    const key = await readConfigured(o.keyFile, 'key');
    return { ...checkPair(cert, key, o.certFile, o.keyFile), generated: false };
  }

  const dir = join(o.dataDir, 'tls');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  const cert = await readIfExists(certPath, 'certificate');
  const key = await readIfExists(keyPath, 'key');
  if (cert !== undefined && key !== undefined) {
    return { ...checkPair(cert, key, certPath, keyPath), generated: false };
  }
  if (cert !== undefined) {
    // Clients may have pinned this certificate: replacing it silently would lock them out.
    throw new MuonError(
      'MUON_ERR_CONFIG',
      `TLS certificate ${certPath} exists but its key ${keyPath} does not; restore the key, or delete ` +
        'the certificate to generate a new identity (clients pinning the old fingerprint must be updated)',
    );
  }
  // A key without a certificate is an interrupted first start (the key is written first): the
  // certificate was never served, so generating afresh is safe.
  const created = generateSelfSigned();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await writeFileAtomic(keyPath, created.key, 0o600);
  await writeFileAtomic(certPath, created.cert, 0o644);
  return { ...created, fingerprint: fingerprintOf(created.cert), generated: true };
}

function generateSelfSigned(): { cert: string; key: string } {
  const now = Date.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  return createSelfSigned({
    commonName: COMMON_NAME,
    dnsNames: dnsNames(),
    ips: ['127.0.0.1', '::1'],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
  });
}

function dnsNames(): string[] {
  const host = hostname().toLowerCase();
  // Only names an IA5String (and a TLS client) can carry.
  const usable = host !== 'localhost' && host.length <= 253 && /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/.test(host);
  return usable ? ['localhost', host] : ['localhost'];
}

/** Validates a PEM certificate/key pair and computes the leaf fingerprint. */
function checkPair(cert: string, key: string, certPath: string, keyPath: string) {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new MuonError('MUON_ERR_CONFIG', `TLS certificate ${certPath} is not a PEM certificate`, {
      cause: error,
    });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new MuonError(
      'MUON_ERR_CONFIG',
      `TLS key ${keyPath} is not an unencrypted PEM private key (passphrase-protected keys are not supported)`,
      { cause: error },
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new MuonError('MUON_ERR_CONFIG', `TLS key ${keyPath} does not belong to certificate ${certPath}`);
  }
  return { cert, key, fingerprint: fingerprintOf(leaf.raw) };
}

async function readConfigured(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MuonError('MUON_ERR_CONFIG', `Cannot read TLS ${what} file ${path}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
}

async function readIfExists(path: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MuonError('MUON_ERR_CONFIG', `Cannot read TLS ${what} file ${path}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
}

/** Writes through a temporary file and a rename, so a crash never leaves a truncated file. */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(temporary, 'wx', mode);
  try {
    await file.chmod(mode); // open's mode is filtered by the umask
    await file.writeFile(data);
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : String(error);
}
