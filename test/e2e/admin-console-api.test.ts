// The admin API routes the web console relies on, against the running server: the session
// probe and the first-start password flow, the server's connection details, the mapping list
// with its filters, the free-port picker and the dashboard summary.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import { freePort, waitFor } from '../support/net.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

test('a generated first-admin password must be changed; the session probe never answers 401', async (t) => {
  const { call, login, adminPassword, base } = await startRuntime(t, [], { generatedPassword: true });
  assert.notEqual(adminPassword, ADMIN_PASSWORD);
  const anonymous = await fetch(`${base}/api/auth/session`);
  assert.equal(anonymous.status, 200);
  assert.deepEqual(await anonymous.json(), { account: null, mustChangePassword: false });

  const login1 = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: adminPassword }),
  });
  const first = (await login1.json()) as { token: string; mustChangePassword: boolean };
  assert.equal(first.mustChangePassword, true, 'the console asks for a new password');
  const session = await call('GET', '/api/auth/session', first.token);
  assert.equal(session.json.account.username, 'admin');
  assert.equal(session.json.mustChangePassword, true);

  const changed = await call('POST', '/api/auth/password', first.token, {
    current: adminPassword,
    next: 'a-password-of-my-own',
  });
  assert.equal(changed.status, 200);
  assert.equal((await call('GET', '/api/auth/me', changed.json.token)).json.mustChangePassword, false);
  const again = await login('admin', 'a-password-of-my-own');
  assert.equal((await call('GET', '/api/auth/session', again)).json.mustChangePassword, false);
});

test('the server tells the console its tunnel addresses and fingerprint, never a key', async (t) => {
  const { runtime, call, login, fingerprint } = await startRuntime(t);
  const admin = await login('admin', ADMIN_PASSWORD);
  const info = await call('GET', '/api/server', admin);
  assert.equal(info.status, 200);
  assert.equal(info.json.fingerprint, fingerprint);
  assert.equal(info.json.tunnel.port, runtime.tunnel.addresses.tls?.port);
  assert.equal(info.json.plain.port, runtime.tunnel.addresses.plain?.port);
  assert.match(info.json.version, /^\d+\.\d+\.\d+/);
  assert.equal((await call('GET', '/api/server', 'no-such-token')).status, 401);
});

test('mappings list across licenses with filters; users see only their own', async (t) => {
  const { runtime, call, login, client } = await startRuntime(t);
  const { store } = runtime;
  const admin = await login('admin', ADMIN_PASSWORD);
  const bob = await store.users.create({
    username: 'bob',
    passwordHash: await hashPassword('bob-password-12'),
  });
  const mine = await store.licenses.create({ ownerId: bob.id, name: 'bob-lab' });
  const adminId = (await store.users.getByUsername('admin'))?.id ?? 0;
  const other = await store.licenses.create({ ownerId: adminId, name: 'admin-lab' });
  await store.mappings.create({ licenseId: mine.id, publicPort: 31001, targetHost: 'a', targetPort: 1 });
  await store.mappings.create({
    licenseId: mine.id,
    publicPort: 31002,
    targetHost: 'b',
    targetPort: 2,
    enabled: false,
  });
  await store.mappings.create({ licenseId: other.id, publicPort: 31003, targetHost: 'c', targetPort: 3 });

  const ports = async (query: string, token = admin) =>
    ((await call('GET', `/api/mappings${query}`, token)).json.items as { publicPort: number }[]).map(
      (m) => m.publicPort,
    );
  assert.deepEqual(await ports(''), [31001, 31002, 31003]);
  assert.deepEqual(await ports(`?licenseId=${mine.id}`), [31001, 31002]);
  assert.deepEqual(await ports(`?ownerId=${bob.id}&enabled=true`), [31001]);
  assert.deepEqual(await ports('?enabled=false'), [31002]);
  assert.deepEqual(await ports('?protocol=tcp&limit=1&offset=2'), [31003]);
  assert.deepEqual(await ports('?online=true'), []);

  const c = client(other.key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });
  await waitFor(async () => (await store.licenses.get(other.id))?.online === true, 2000, 'online flag');
  assert.deepEqual(await ports('?online=true'), [31003], 'filter by the client being online');
  assert.deepEqual(await ports('?online=false'), [31001, 31002]);

  const bobToken = await login('bob', 'bob-password-12');
  assert.deepEqual(await ports('', bobToken), [31001, 31002], 'a user sees only their own');
  assert.deepEqual(await ports(`?ownerId=${adminId}`, bobToken), [31001, 31002], 'and cannot ask for others');
  const taken = await call('POST', `/api/licenses/${mine.id}/mappings`, admin, {
    publicPort: 31003,
    targetHost: 'd',
    targetPort: 4,
  });
  assert.equal(taken.status, 403, 'not in the pool');
  await call('POST', '/api/licenses', admin, { name: 'twice' });
  const clash = await call('POST', '/api/licenses', admin, { name: 'twice' });
  assert.equal(clash.status, 409);
  assert.equal(clash.json.error.field, 'name', "the store's errors name their field for the console");
  const bad = await call('GET', '/api/mappings?protocol=gopher', admin);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'protocol');
  assert.equal((await call('GET', '/api/mappings?online=maybe', admin)).json.error.field, 'online');
  const single = await call(
    'GET',
    `/api/mappings/${(await store.mappings.findByPort('tcp', 31003))?.id}`,
    bobToken,
  );
  assert.equal(single.status, 404, "someone else's mapping does not exist for a user");
});

test('the port picker offers free pool ports allowed for the license, lowest first', async (t) => {
  const { runtime, call, login } = await startRuntime(t);
  const { store } = runtime;
  const admin = await login('admin', ADMIN_PASSWORD);
  const license = await store.licenses.create({ ownerId: 1, name: 'lab' });
  const outsider = await store.licenses.create({ ownerId: 1, name: 'outsider' });
  const group = await store.portGroups.create({ name: 'lab ports' });
  await store.portPool.create({ portStart: 32010, portEnd: 32014, groupId: group.id });
  await store.portPool.create({ portStart: 32000, portEnd: 32001, groupId: group.id });
  await store.portPool.create({ portStart: 32100, portEnd: 32105 });
  await store.portGroups.assign(group.id, { scope: 'license', licenseId: license.id });
  await store.mappings.create({ licenseId: license.id, publicPort: 32011, targetHost: 'x', targetPort: 1 });

  const free = await call('GET', `/api/licenses/${license.id}/free-ports?limit=4`, admin);
  assert.deepEqual(free.json.items, [32000, 32001, 32010, 32012]);
  const none = await call('GET', `/api/licenses/${outsider.id}/free-ports`, admin);
  assert.deepEqual(none.json.items, [], 'ports in no assigned group are offered to nobody');
});

test('the dashboard summary counts licenses, mappings, visitors and traffic', async (t) => {
  const { runtime, call, login, client } = await startRuntime(t);
  const { store } = runtime;
  const admin = await login('admin', ADMIN_PASSWORD);
  const a = await store.licenses.create({ ownerId: 1, name: 'a' });
  await store.licenses.create({ ownerId: 1, name: 'b', enabled: false });
  const port = await freePort();
  const m = await store.mappings.create({
    licenseId: a.id,
    publicPort: port,
    targetHost: 'x',
    targetPort: 1,
  });
  const now = new Date();
  const lastYear = new Date(Date.UTC(now.getUTCFullYear() - 1, 0, 15));
  await store.traffic.add([
    { mappingId: m.id, licenseId: a.id, at: now, bytesIn: 2n ** 40n, bytesOut: 7 },
    { mappingId: m.id, licenseId: a.id, at: lastYear, bytesIn: 100, bytesOut: 1 },
  ]);
  await store.traffic.rollUp({ now });
  const c = client(a.key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });
  await waitFor(async () => (await store.licenses.get(a.id))?.online === true, 2000, 'online flag');

  const summary = (await call('GET', '/api/reports/summary', admin)).json;
  assert.deepEqual(summary.licenses, { total: 2, online: 1, enabled: 1 });
  assert.deepEqual(summary.mappings, { total: 1, active: 1 });
  assert.equal(summary.visitorsActive, 0);
  assert.deepEqual(summary.trafficToday, { bytesIn: String(2n ** 40n), bytesOut: '7' });
  assert.deepEqual(summary.trafficTotal, { bytesIn: String(2n ** 40n + 100n), bytesOut: '8' });

  const bob = await store.users.create({
    username: 'bob',
    passwordHash: await hashPassword('bob-password-12'),
  });
  await store.licenses.create({ ownerId: bob.id, name: 'bobs' });
  const forBob = (await call('GET', '/api/reports/summary', await login('bob', 'bob-password-12'))).json;
  assert.deepEqual(forBob.licenses, { total: 1, online: 0, enabled: 1 }, 'a user counts only their own');
  assert.equal(forBob.visitorsActive, null, 'the server-wide visitor count is for admins');
  assert.deepEqual(forBob.trafficTotal, { bytesIn: '0', bytesOut: '0' });
});
