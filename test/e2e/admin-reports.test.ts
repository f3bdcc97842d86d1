// Reports and security groups over the admin API, and a sweep over every route: none answers
// without a session except login, the session probe, health and the console's files.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { AdminServer } from '../../src/admin/admin-server.ts';
import { createAdminApp } from '../../src/admin/app.ts';
import { ensureFirstAdmin } from '../../src/admin/first-admin.ts';
import { Metrics } from '../../src/admin/metrics.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { SessionTokens } from '../../src/admin/session-tokens.ts';
import { storeAccounts } from '../../src/cli/store-accounts.ts';
import { silentLogger } from '../../src/log.ts';
import { FailureLimiter } from '../../src/net/failure-limiter.ts';
import { openStore } from '../../src/store/store.ts';

const PASSWORD = 'admin-password-for-tests';

async function start(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'muon-reports-'));
  const store = await openStore({ dataDir: dir });
  const accounts = storeAccounts(store);
  await ensureFirstAdmin(accounts, PASSWORD);
  const app = createAdminApp({
    accounts,
    tokens: new SessionTokens({ idleMs: 60_000, maxAgeMs: 3_600_000 }),
    loginFailures: new FailureLimiter({ maxFailures: 5, windowMs: 60_000 }),
    metrics: new Metrics(() => 0),
    logger: silentLogger,
    secureCookies: false,
    store,
    serverInfo: () => ({ version: '0', tunnel: { host: '', port: 0 }, plain: null, fingerprint: '' }),
    console: null,
  });
  const server = new AdminServer(async () => app, { host: '127.0.0.1', port: 0 });
  await server.listen();
  t.after(async () => {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${server.address?.port}`;
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(base + path, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
  const login = async (username: string, password: string) =>
    (await call('POST', '/api/auth/login', undefined, { username, password })).json?.token as string;
  return { app, store, call, login };
}

test('every route needs a session, except login, the session probe, health and the console', async (t) => {
  const { app, call } = await start(t);
  const open = new Set([
    'POST /api/auth/login',
    'GET /api/auth/session',
    'GET /healthz',
    'GET /*',
    'HEAD /*',
  ]);
  const routes = app.routes.filter((r) => r.method !== 'ALL');
  assert.ok(routes.length > 30, `found only ${routes.length} routes`);
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    if (open.has(key)) continue;
    const answer = await call(route.method, route.path.replaceAll(':id', '1'));
    assert.equal(answer.status, 401, key);
    assert.equal(answer.json.error.code, 'MUON_ERR_UNAUTHORIZED', key);
  }
  assert.deepEqual((await call('GET', '/api/auth/session')).json, {
    account: null,
    mustChangePassword: false,
  });
  const page = await call('GET', '/api/no-such-route');
  assert.equal(page.status, 404, 'an unknown API path is an API 404, not the console');
});

test('traffic, online and connection reports; login attempts are logged', async (t) => {
  const { store, call, login } = await start(t);
  const admin = await login('admin', PASSWORD);
  await login('admin', 'a wrong password');
  const user = await store.users.create({
    username: 'erin',
    passwordHash: await hashPassword('erin-password-1'),
  });
  const erin = await login('erin', 'erin-password-1');
  const license = await store.licenses.create({ ownerId: user.id, name: 'erin-lab' });
  const mapping = await store.mappings.create({
    licenseId: license.id,
    publicPort: 22000,
    targetHost: 'x',
    targetPort: 1,
  });
  const big = 2n ** 60n;
  await store.traffic.add([
    { mappingId: mapping.id, licenseId: license.id, at: new Date(), bytesIn: big, bytesOut: 5 },
  ]);
  await store.licenses.setOnline(license.id, true);
  await store.connections.opened({
    licenseId: license.id,
    licenseName: 'erin-lab',
    remoteAddress: '192.0.2.1',
  });

  const traffic = await call('GET', `/api/reports/traffic?licenseId=${license.id}&granularity=minute`, erin);
  assert.equal(traffic.status, 200);
  assert.equal(traffic.json.items[0].bytesIn, big.toString(), '64-bit counters arrive exact, as strings');
  assert.equal((await call('GET', '/api/reports/traffic?granularity=week', admin)).status, 400);
  const own = await call('GET', '/api/reports/traffic?granularity=minute', erin);
  assert.equal(own.json.items[0].bytesIn, big.toString(), 'without a license, a user gets their own');
  const adminOwn = await call('GET', '/api/reports/traffic?granularity=minute', admin);
  assert.equal(adminOwn.json.items[0].bytesIn, big.toString(), 'an admin gets the whole server');

  const online = await call('GET', '/api/reports/online', erin);
  assert.deepEqual(
    online.json.items.map((l: { name: string }) => l.name),
    ['erin-lab'],
  );
  const connections = await call('GET', `/api/reports/connections?licenseId=${license.id}`, erin);
  assert.equal(connections.json.items[0].remoteAddress, '192.0.2.1');

  assert.equal((await call('GET', '/api/reports/logins', erin)).status, 403);
  const logins = await call('GET', '/api/reports/logins', admin);
  const outcomes = logins.json.items.map(
    (l: { username: string; success: boolean; reason: string | null }) =>
      `${l.username}:${l.success}:${l.reason}`,
  );
  for (const outcome of ['admin:true:null', 'admin:false:wrong password', 'erin:true:null']) {
    assert.ok(outcomes.includes(outcome), `${outcome} in ${outcomes}`);
  }
  await login('nobody', 'whatever');
  const unknown = (await call('GET', '/api/reports/logins', admin)).json.items.find(
    (l: { username: string }) => l.username === 'nobody',
  );
  assert.equal(unknown?.reason, 'unknown user', 'the log says why a login failed');
});

test('security groups and their rules; CIDRs are checked', async (t) => {
  const { call, login } = await start(t);
  const admin = await login('admin', PASSWORD);
  const group = await call('POST', '/api/security-groups', admin, { name: 'office' });
  assert.equal(group.status, 201);
  const rule = await call('POST', `/api/security-groups/${group.json.id}/rules`, admin, {
    action: 'allow',
    cidr: '2001:db8::/32',
    priority: 10,
  });
  assert.equal(rule.status, 201);
  const bad = await call('POST', `/api/security-groups/${group.json.id}/rules`, admin, {
    action: 'deny',
    cidr: '300.1.2.3/8',
    priority: 20,
  });
  assert.equal(bad.status, 400);
  const read = await call('GET', `/api/security-groups/${group.json.id}`, admin);
  assert.deepEqual(
    read.json.rules.map((r: { cidr: string }) => r.cidr),
    ['2001:db8::/32'],
  );
  assert.equal((await call('DELETE', `/api/security-groups/rules/${rule.json.id}`, admin)).status, 204);
});
