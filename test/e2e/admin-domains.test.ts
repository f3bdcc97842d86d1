// Domains and HTTP(S) mappings over the admin API against the whole server: a certificate upload
// is checked (each refusal a 400 naming its field), answers carry the certificate's metadata and
// never the key, mappings get host names and options with their own checks, and what an admin
// changes is routed by the shared HTTP and HTTPS ports at once.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import { makeCertificate } from '../support/certs.ts';
import { exchange, httpTarget, statusOf } from '../support/http.ts';
import { freePort, waitFor } from '../support/net.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

async function start(t: TestContext) {
  const [httpPort, httpsPort] = await Promise.all([freePort(), freePort()]);
  const runtime = await startRuntime(t, [
    `http: { host: 127.0.0.1, port: ${httpPort} }`,
    `https: { host: 127.0.0.1, port: ${httpsPort} }`,
  ]);
  return { ...runtime, httpPort, httpsPort, admin: await runtime.login('admin', ADMIN_PASSWORD) };
}

test('a certificate upload is checked, and only its metadata comes back', async (t) => {
  const { call, admin, runtime, login } = await start(t);
  const good = await makeCertificate(['example.test', '*.example.test']);
  const stranger = await makeCertificate(['example.test']);
  const expired = await makeCertificate(['example.test'], {
    notBefore: new Date(Date.now() - 5 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const elsewhere = await makeCertificate(['shop.elsewhere.test']);
  const refusals: [Record<string, unknown>, string, RegExp][] = [
    [
      { certificate: good.cert, privateKey: stranger.key },
      'privateKey',
      /does not belong to the certificate/,
    ],
    [{ certificate: expired.cert, privateKey: expired.key }, 'certificate', /expired on/],
    [
      { certificate: elsewhere.cert, privateKey: elsewhere.key },
      'certificate',
      /does not cover example\.test/,
    ],
    [{ certificate: 'not a certificate', privateKey: good.key }, 'certificate', /not a PEM certificate/],
    [
      { certificate: good.cert, privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' },
      'privateKey',
      /not an unencrypted PEM private key/,
    ],
    [{ certificate: good.cert }, 'privateKey', /required with a certificate/],
  ];
  for (const [fields, field, message] of refusals) {
    const answer = await call('POST', '/api/domains', admin, { name: 'example.test', ...fields });
    assert.equal(answer.status, 400, JSON.stringify(answer.json));
    assert.equal(answer.json.error.code, 'MUON_ERR_INVALID_INPUT');
    assert.equal(answer.json.error.field, field);
    assert.match(answer.json.error.message, message);
  }
  const badName = await call('POST', '/api/domains', admin, { name: 'not a domain' });
  assert.deepEqual([badName.status, badName.json.error.field], [400, 'name']);

  const created = await call('POST', '/api/domains', admin, {
    name: 'Example.Test',
    certificate: good.cert,
    privateKey: good.key,
    forceHttps: true,
  });
  assert.equal(created.status, 201);
  assert.equal(created.json.name, 'example.test');
  assert.equal(created.json.certificate.subject, 'CN=example.test');
  assert.deepEqual(created.json.certificate.names, ['example.test', '*.example.test']);
  assert.match(created.json.certificate.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.ok(Date.parse(created.json.certificate.notAfter) > Date.now());
  for (const answer of [
    created,
    await call('GET', `/api/domains/${created.json.id}`, admin),
    await call('GET', '/api/domains', admin),
  ]) {
    const text = JSON.stringify(answer.json);
    assert.doesNotMatch(text, /PRIVATE KEY|privateKey/, 'the key is never returned');
  }
  assert.equal((await call('POST', '/api/domains', admin, { name: 'example.test' })).status, 409);
  const patched = await call('PATCH', `/api/domains/${created.json.id}`, admin, { forceHttps: false });
  assert.equal(patched.json.forceHttps, false);
  assert.equal(patched.json.certificate.subject, 'CN=example.test', 'the certificate stays');

  await runtime.store.users.create({ username: 'bea', passwordHash: await hashPassword('bea-password-1') });
  const bea = await login('bea', 'bea-password-1');
  assert.equal((await call('GET', '/api/domains', bea)).status, 403, 'admins only');
  assert.equal((await call('DELETE', `/api/domains/${created.json.id}`, admin)).status, 204);
});

test('mappings get host names and options over the API, and the router serves them at once', async (t) => {
  const { call, admin, client, httpPort, httpsPort } = await start(t);
  const target = await httpTarget(t, 'T');
  const certificate = await makeCertificate(['example.test', '*.example.test']);
  const domain = await call('POST', '/api/domains', admin, {
    name: 'example.test',
    certificate: certificate.cert,
    privateKey: certificate.key,
  });
  const license = await call('POST', '/api/licenses', admin, { name: 'web' });
  const c = client(license.json.key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });
  const base = { targetHost: '127.0.0.1', targetPort: target.port };

  const refused: [Record<string, unknown>, number, string][] = [
    [{ protocol: 'http', ...base }, 400, 'hostnames'],
    [{ protocol: 'http', publicPort: 8080, hostnames: ['a.example.test'], ...base }, 400, 'publicPort'],
    [{ protocol: 'http', hostnames: ['a.elsewhere.test'], ...base }, 400, 'hostnames'],
    [{ protocol: 'https', hostnames: ['a.b.example.test'], ...base }, 400, 'hostnames'],
    [
      { protocol: 'http', hostnames: ['a.example.test'], basicAuth: { username: 'u' }, ...base },
      400,
      'basicAuth.password',
    ],
  ];
  for (const [body, status, field] of refused) {
    const answer = await call('POST', `/api/licenses/${license.json.id}/mappings`, admin, body);
    assert.equal(answer.status, status, JSON.stringify(answer.json));
    assert.equal(answer.json.error.field, field, JSON.stringify(answer.json));
  }

  const plain = await call('POST', `/api/licenses/${license.json.id}/mappings`, admin, {
    protocol: 'http',
    hostnames: ['www.example.test', '*.apps.example.test'],
    rewriteHost: true,
    ...base,
  });
  assert.equal(plain.status, 201, JSON.stringify(plain.json));
  assert.deepEqual(plain.json.hostnames, ['www.example.test', '*.apps.example.test']);
  assert.equal(plain.json.addForwardedHeaders, true);
  assert.equal(plain.json.publicPort, null);
  const secure = await call('POST', `/api/licenses/${license.json.id}/mappings`, admin, {
    protocol: 'https',
    hostnames: ['www.example.test'],
    basicAuth: { username: 'ali', password: 'open sesame' },
    ...base,
  });
  assert.equal(secure.status, 201, JSON.stringify(secure.json));
  assert.deepEqual(secure.json.basicAuth, { username: 'ali' });
  assert.doesNotMatch(JSON.stringify(secure.json), /sesame|argon2/);
  const taken = await call('POST', `/api/licenses/${license.json.id}/mappings`, admin, {
    protocol: 'http',
    hostnames: ['www.example.test'],
    ...base,
  });
  assert.deepEqual([taken.status, taken.json.error.field], [409, 'hostnames']);

  const get = (host: string) => `GET /p HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const tls = { servername: 'www.example.test', ca: certificate.ca };
  await waitFor(
    async () => statusOf(await exchange(httpPort, get('x.apps.example.test'))) === 200,
    2000,
    'http route',
  );
  assert.equal(target.seen.at(-1)?.headers.host, `127.0.0.1:${target.port}`, 'host rewritten');
  assert.equal(statusOf(await exchange(httpsPort, get('www.example.test'), tls)), 401);
  const auth = `Basic ${Buffer.from('ali:open sesame').toString('base64')}`;
  const authorized = `GET /s HTTP/1.1\r\nHost: www.example.test\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`;
  assert.equal(statusOf(await exchange(httpsPort, authorized, tls)), 200);
  assert.equal(target.seen.at(-1)?.headers['x-forwarded-proto'], 'https');

  // Changes apply at once: basic auth off, then force-HTTPS on, then the domain off.
  await call('PATCH', `/api/mappings/${secure.json.id}`, admin, { basicAuth: null });
  await waitFor(
    async () => statusOf(await exchange(httpsPort, get('www.example.test'), tls)) === 200,
    2000,
    'no auth',
  );
  await call('PATCH', `/api/domains/${domain.json.id}`, admin, { forceHttps: true });
  await waitFor(
    async () => statusOf(await exchange(httpPort, get('www.example.test'))) === 308,
    2000,
    'redirect',
  );
  await call('PATCH', `/api/domains/${domain.json.id}`, admin, { enabled: false, forceHttps: false });
  await waitFor(
    async () => statusOf(await exchange(httpPort, get('www.example.test'))) === 404,
    2000,
    'disabled',
  );
  const inUse = await call('DELETE', `/api/domains/${domain.json.id}`, admin);
  assert.equal(inUse.status, 409);
});
