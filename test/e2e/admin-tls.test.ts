// The admin API and console over HTTPS (`admin.tls`), in a real runtime on loopback: with the
// tunnel's own certificate, with an operator's PEM files, bad files refused before anything
// starts, and plain HTTP (no Secure cookie, no HSTS) when it is not set.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AdminServer } from '../../src/admin/admin-server.ts';
import { createAdminApp } from '../../src/admin/app.ts';
import { Metrics } from '../../src/admin/metrics.ts';
import { SessionTokens } from '../../src/admin/session-tokens.ts';
import { startServerRuntime } from '../../src/cli/server-runtime.ts';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { MuonError } from '../../src/errors.ts';
import { FailureLimiter } from '../../src/net/failure-limiter.ts';
import { fingerprintOf } from '../../src/net/fingerprint.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';
import { MemoryAccounts } from '../support/admin.ts';
import { makeCertificate } from '../support/certs.ts';
import { closedWithin, freePort } from '../support/net.ts';
import { LogCapture } from '../support/stack.ts';

const PASSWORD = 'admin-tls-password-for-tests';
const HSTS = 'max-age=31536000';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** SHA-256 of the certificate the server presented. */
  fingerprint: string;
}

/** One HTTPS request that trusts only `ca` (and checks the name, 127.0.0.1), on a fresh connection. */
function httpsCall(
  url: string,
  ca: string,
  options: { method?: string; body?: unknown; cookie?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca,
        agent: false,
        headers: {
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...(options.cookie !== undefined && { cookie: options.cookie }),
        },
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, fingerprint }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A runtime as `muon server` runs it, with `admin` as the YAML value of the admin section. */
async function startWithAdmin(t: TestContext, admin: string, options: { logger?: LogCapture } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'muon-admin-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [tunnelPort, adminPort] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, 'muon.yaml');
  await writeFile(
    file,
    [
      `dataDir: ${join(dir, 'data')}`,
      `tunnel: { host: 127.0.0.1, port: ${tunnelPort} }`,
      'publicHost: 127.0.0.1',
      `admin: { host: 127.0.0.1, port: ${adminPort}, ${admin} }`,
    ].join('\n'),
  );
  const config = await loadServerConfig({ file, env: {} });
  const identity = await loadOrCreateTlsIdentity({ dataDir: config.dataDir });
  const start = () =>
    startServerRuntime(config, identity, (options.logger ?? new LogCapture()).logger, {
      MUON_ADMIN_PASSWORD: PASSWORD,
    });
  return { dir, config, identity, tunnelPort, adminPort, start };
}

async function login(url: string, ca: string): Promise<Answer> {
  return httpsCall(`${url}/api/auth/login`, ca, {
    method: 'POST',
    body: { username: 'admin', password: PASSWORD },
  });
}

/** The session cookie's `name=value`, from a Set-Cookie header. */
function sessionCookie(setCookie: string): string {
  return setCookie.split(';')[0] ?? '';
}

test('admin.tls: true serves HTTPS with the tunnel certificate: login, Secure cookie, HSTS, the printed fingerprint', async (t) => {
  const started = await startWithAdmin(t, 'tls: true');
  const runtime = await started.start();
  t.after(() => runtime.close());
  const url = `https://127.0.0.1:${started.adminPort}`;

  assert.equal(
    runtime.adminTls?.fingerprint,
    started.identity.fingerprint,
    'the fingerprint the server prints',
  );
  const answer = await login(url, started.identity.cert);
  assert.equal(answer.status, 200, answer.body);
  assert.equal(
    answer.fingerprint,
    started.identity.fingerprint,
    'the certificate presented is the tunnel one',
  );
  const [setCookie] = answer.headers['set-cookie'] ?? [];
  assert.ok(setCookie, 'login sets the session cookie');
  assert.match(setCookie, /;\s*Secure(;|$)/i);
  assert.match(setCookie, /;\s*HttpOnly(;|$)/i);
  assert.equal(answer.headers['strict-transport-security'], HSTS);

  // The cookie carries the session over HTTPS, and the console itself gets HSTS too.
  const me = await httpsCall(`${url}/api/auth/me`, started.identity.cert, {
    cookie: sessionCookie(setCookie),
  });
  assert.equal(me.status, 200, me.body);
  assert.equal((JSON.parse(me.body) as { account: { username: string } }).account.username, 'admin');
  const page = await httpsCall(`${url}/`, started.identity.cert);
  assert.equal(page.headers['strict-transport-security'], HSTS);

  // TLS 1.1 is refused, even by a client willing to use it.
  const old = tlsConnect({
    host: '127.0.0.1',
    port: started.adminPort,
    ca: started.identity.cert,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.1',
    ciphers: 'DEFAULT@SECLEVEL=0',
  });
  t.after(() => old.destroy());
  const [refused] = (await once(old, 'error', { signal: AbortSignal.timeout(10_000) })) as [Error];
  assert.match(refused.message, /alert protocol version/);
});

test('a plain-HTTP request to the HTTPS admin port is closed, logged at debug only, and the port keeps serving', async (t) => {
  const log = new LogCapture();
  const started = await startWithAdmin(t, 'tls: true', { logger: log });
  const runtime = await started.start();
  t.after(() => runtime.close());

  for (let i = 0; i < 3; i++) {
    const socket = connect(started.adminPort, '127.0.0.1');
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.write(`GET /api/auth/session HTTP/1.1\r\nHost: 127.0.0.1:${started.adminPort}\r\n\r\n`);
    assert.equal(await closedWithin(socket, 5000), true, 'the connection is closed');
    assert.doesNotMatch(received, /^HTTP\//, 'no HTTP answer in clear');
  }
  const answer = await login(`https://127.0.0.1:${started.adminPort}`, started.identity.cert);
  assert.equal(answer.status, 200);
  const loud = log.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 40);
  assert.deepEqual(loud, [], 'nothing at warn or above');
  assert.ok(log.text().includes('admin API TLS handshake failed'), 'each failure is logged at debug');
});

test("admin.tls with an operator's certificate files serves that certificate", async (t) => {
  const pair = await makeCertificate(['localhost'], { ips: ['127.0.0.1'] });
  const started = await startWithAdmin(t, 'tls: { cert: admin.crt, key: keys/admin.key }');
  await writeFile(join(started.dir, 'admin.crt'), pair.cert);
  await mkdir(join(started.dir, 'keys'));
  await writeFile(join(started.dir, 'keys', 'admin.key'), pair.key, { mode: 0o600 });
  const runtime = await started.start();
  t.after(() => runtime.close());

  const expected = fingerprintOf(pair.cert);
  assert.notEqual(expected, started.identity.fingerprint);
  assert.equal(runtime.adminTls?.fingerprint, expected);
  const answer = await login(`https://127.0.0.1:${started.adminPort}`, pair.ca);
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.fingerprint, expected);
  assert.match(answer.headers['set-cookie']?.[0] ?? '', /;\s*Secure(;|$)/i);
  assert.equal(answer.headers['strict-transport-security'], HSTS);
  // The tunnel keeps its own certificate.
  assert.equal(runtime.tunnel.addresses.tls?.port, started.tunnelPort);
});

test('bad admin certificate files are MUON_ERR_CONFIG naming the setting, before anything starts', async (t) => {
  const pair = await makeCertificate(['localhost'], { ips: ['127.0.0.1'] });
  const other = await makeCertificate(['localhost'], { ips: ['127.0.0.1'] });
  const cases: Array<{ files: Record<string, string>; setting: string; reason: RegExp }> = [
    {
      files: { 'admin.key': pair.key },
      setting: 'admin.tls.cert',
      reason: /cannot read .*admin\.crt: no such file/,
    },
    {
      files: { 'admin.crt': pair.cert },
      setting: 'admin.tls.key',
      reason: /cannot read .*admin\.key: no such file/,
    },
    {
      files: { 'admin.crt': pair.cert, 'admin.key': other.key },
      setting: 'admin.tls.key',
      reason: /admin\.key: does not belong to the certificate/,
    },
    {
      files: { 'admin.crt': 'not a certificate\n', 'admin.key': pair.key },
      setting: 'admin.tls.cert',
      reason: /admin\.crt: not a PEM certificate/,
    },
    {
      files: { 'admin.crt': pair.cert, 'admin.key': 'not a key\n' },
      setting: 'admin.tls.key',
      reason: /admin\.key: not an unencrypted PEM private key/,
    },
  ];
  for (const { files, setting, reason } of cases) {
    const started = await startWithAdmin(t, 'tls: { cert: admin.crt, key: admin.key }');
    for (const [name, text] of Object.entries(files)) await writeFile(join(started.dir, name), text);
    const error = await started.start().then(
      (runtime) => {
        t.after(() => runtime.close());
        return undefined;
      },
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof MuonError, `${setting}: expected a MuonError, got ${String(error)}`);
    assert.equal(error.code, 'MUON_ERR_CONFIG');
    assert.ok(error.message.startsWith(`${setting}: `), error.message);
    assert.match(error.message, reason);
    for (const secret of [pair.key, other.key]) {
      const body = secret.split('\n')[1] ?? secret;
      assert.ok(!error.message.includes(body), 'no key material in the message');
    }
    // Nothing started: no store was created, and the tunnel and admin ports are free.
    await assert.rejects(access(join(started.config.dataDir, 'muon.db')), { code: 'ENOENT' });
    for (const port of [started.tunnelPort, started.adminPort]) {
      const socket = connect(port, '127.0.0.1');
      const [refused] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      assert.equal(refused.code, 'ECONNREFUSED', `port ${port} is not listening`);
    }
  }
});

test('without admin.tls the admin API stays plain HTTP: no Secure cookie, no HSTS', async (t) => {
  const started = await startWithAdmin(t, 'enabled: true');
  const runtime = await started.start();
  t.after(() => runtime.close());
  assert.equal(runtime.adminTls, undefined);
  const response = await fetch(`http://127.0.0.1:${started.adminPort}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /HttpOnly/i);
  assert.doesNotMatch(setCookie, /Secure/i);
  assert.equal(response.headers.get('strict-transport-security'), null);
});

test('a connection that never finishes its TLS handshake is closed after the handshake timeout', async (t) => {
  const identity = await makeCertificate(['localhost'], { ips: ['127.0.0.1'] });
  const app = createAdminApp({
    accounts: new MemoryAccounts(),
    tokens: new SessionTokens({ idleMs: 60_000, maxAgeMs: 3_600_000 }),
    loginFailures: new FailureLimiter({ maxFailures: 5, windowMs: 60_000 }),
    metrics: new Metrics(() => 0),
    logger: new LogCapture().logger,
    secureCookies: true,
  });
  const server = new AdminServer(async () => app, {
    host: '127.0.0.1',
    port: 0,
    tls: { cert: identity.cert, key: identity.key },
    tlsHandshakeTimeoutMs: 300,
  });
  await server.listen();
  t.after(() => server.close());

  const socket = connect(server.address?.port ?? 0, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await once(socket, 'connect');
  const opened = Date.now();
  assert.equal(await closedWithin(socket, 5000), true, 'closed by the server');
  assert.ok(Date.now() - opened >= 250, 'not before the timeout');
});
