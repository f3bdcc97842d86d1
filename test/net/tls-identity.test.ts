import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createSecureContext } from 'node:tls';
import { MuonError } from '../../src/errors.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';

async function tempDataDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-tls-identity-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function isConfigError(pattern: RegExp) {
  return (error: unknown) =>
    error instanceof MuonError && error.code === 'MUON_ERR_CONFIG' && pattern.test(error.message);
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

test('first start generates a self-signed P-256 certificate with private file modes', async (t) => {
  const dataDir = await tempDataDir(t);
  const identity = await loadOrCreateTlsIdentity({ dataDir });

  assert.equal(identity.generated, true);
  const tlsDir = join(dataDir, 'tls');
  assert.equal(await mode(tlsDir), 0o700);
  assert.equal(await mode(join(tlsDir, 'server.key')), 0o600);
  assert.equal(await readFile(join(tlsDir, 'server.crt'), 'utf8'), identity.cert);
  assert.equal(await readFile(join(tlsDir, 'server.key'), 'utf8'), identity.key);
  assert.deepEqual((await readdir(tlsDir)).sort(), ['server.crt', 'server.key'], 'no temporary files left');

  const cert = new X509Certificate(identity.cert);
  assert.equal(identity.fingerprint, cert.fingerprint256);
  assert.equal(cert.subject, 'CN=muon-server');
  assert.equal(cert.issuer, 'CN=muon-server');
  assert.equal(cert.ca, false);
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkIP('::1'), '::1');
  const years = (Date.parse(cert.validTo) - Date.now()) / (365.25 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `valid for ${years} years`);
  assert.ok(Date.parse(cert.validFrom) <= Date.now());
  assert.equal(cert.verify(cert.publicKey), true);

  const key = createPrivateKey(identity.key);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(cert.checkPrivateKey(key), true);
  assert.doesNotThrow(() => createSecureContext({ cert: identity.cert, key: identity.key }));
});

test('later starts reuse the stored identity', async (t) => {
  const dataDir = await tempDataDir(t);
  const first = await loadOrCreateTlsIdentity({ dataDir });
  const second = await loadOrCreateTlsIdentity({ dataDir });
  assert.equal(second.generated, false);
  assert.equal(second.fingerprint, first.fingerprint);
  assert.equal(second.cert, first.cert);
  assert.equal(second.key, first.key);
});

test('configured certificate and key files are used as given', async (t) => {
  const dataDir = await tempDataDir(t);
  const source = await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'elsewhere') });
  const certFile = join(dataDir, 'my.crt');
  const keyFile = join(dataDir, 'my.key');
  await writeFile(certFile, source.cert);
  await writeFile(keyFile, source.key);

  const identity = await loadOrCreateTlsIdentity({ dataDir, certFile, keyFile });
  assert.deepEqual(identity, { ...source, generated: false });
  await assert.rejects(stat(join(dataDir, 'tls')), { code: 'ENOENT' }, 'nothing generated');
});

test('a certificate file without a key file (or the reverse) is a config error', async (t) => {
  const dataDir = await tempDataDir(t);
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, certFile: join(dataDir, 'a.crt') }),
    isConfigError(/together.*only the certificate/),
  );
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, keyFile: join(dataDir, 'a.key') }),
    isConfigError(/together.*only the key/),
  );
});

test('an unreadable configured file is a config error naming the file', async (t) => {
  const dataDir = await tempDataDir(t);
  const source = await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'src') });
  const keyFile = join(dataDir, 'server.key');
  await writeFile(keyFile, source.key);
  const missing = join(dataDir, 'missing.crt');
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, certFile: missing, keyFile }),
    isConfigError(new RegExp(`certificate file ${missing}: ENOENT`)),
  );
});

test('files that are not PEM, or a key that does not match, are config errors', async (t) => {
  const dataDir = await tempDataDir(t);
  const a = await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'a') });
  const b = await loadOrCreateTlsIdentity({ dataDir: join(dataDir, 'b') });
  const certFile = join(dataDir, 'x.crt');
  const keyFile = join(dataDir, 'x.key');

  await writeFile(certFile, a.cert);
  await writeFile(keyFile, b.key);
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, certFile, keyFile }),
    isConfigError(/does not belong to certificate/),
  );

  await writeFile(keyFile, 'not a key');
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, certFile, keyFile }),
    isConfigError(/not an unencrypted PEM private key/),
  );

  await writeFile(certFile, 'not a certificate');
  await writeFile(keyFile, a.key);
  await assert.rejects(
    loadOrCreateTlsIdentity({ dataDir, certFile, keyFile }),
    isConfigError(/not a PEM certificate/),
  );
});

test('a stored certificate whose key is missing is not silently replaced', async (t) => {
  const dataDir = await tempDataDir(t);
  const first = await loadOrCreateTlsIdentity({ dataDir });
  await rm(join(dataDir, 'tls', 'server.key'));
  await assert.rejects(loadOrCreateTlsIdentity({ dataDir }), isConfigError(/exists but its key/));
  assert.equal(await readFile(join(dataDir, 'tls', 'server.crt'), 'utf8'), first.cert);
});

test('a stored key without its certificate (interrupted first start) is regenerated', async (t) => {
  const dataDir = await tempDataDir(t);
  const first = await loadOrCreateTlsIdentity({ dataDir });
  await rm(join(dataDir, 'tls', 'server.crt'));
  const second = await loadOrCreateTlsIdentity({ dataDir });
  assert.equal(second.generated, true);
  assert.notEqual(second.fingerprint, first.fingerprint);
  assert.equal(await mode(join(dataDir, 'tls', 'server.key')), 0o600);
});

test('an existing tls directory is tightened to 0700 when generating', async (t) => {
  const dataDir = await tempDataDir(t);
  await mkdir(join(dataDir, 'tls'));
  await chmod(join(dataDir, 'tls'), 0o755);
  await loadOrCreateTlsIdentity({ dataDir });
  assert.equal(await mode(join(dataDir, 'tls')), 0o700);
});
