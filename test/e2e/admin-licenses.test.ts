// Managing licenses and mappings over the admin API against the running server: what an admin
// creates is live at once, a regular user sees and changes only their own objects, and ports
// outside the pool allowed for a license are refused.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import type { MuonError } from '../../src/errors.ts';
import { closedWithin, dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

const start = (t: TestContext) => startRuntime(t);

test('an admin creates a license and a mapping over HTTP; both are live at once', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const { runtime, call, login, client } = await start(t);
  const admin = await login('admin', ADMIN_PASSWORD);
  const port = await freePort();
  const group = await runtime.store.portGroups.create({ name: 'public' });
  await runtime.store.portPool.create({ portStart: port, groupId: group.id });
  await runtime.store.portGroups.assign(group.id, { scope: 'global' });

  const created = await call('POST', '/api/licenses', admin, { name: 'home-lab' });
  assert.equal(created.status, 201);
  assert.equal(typeof created.json.key, 'string');
  const c = client(created.json.key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });

  const mapping = await call('POST', `/api/licenses/${created.json.id}/mappings`, admin, {
    publicPort: port,
    targetHost: '127.0.0.1',
    targetPort: echo.port,
  });
  assert.equal(mapping.status, 201);
  await waitFor(() => runtime.tunnel.publicPorts.includes(port), 1000, 'the mapping to listen');
  const visitor = await dial(port);
  const reply = readAll(visitor);
  visitor.end('over the API');
  assert.equal((await reply).toString(), 'over the API');

  const held = await dial(port);
  held.on('error', () => {});
  assert.equal((await call('DELETE', `/api/mappings/${mapping.json.id}`, admin)).status, 204);
  assert.equal(await closedWithin(held, 2000), true, 'its visitors are closed');
  await waitFor(() => !runtime.tunnel.publicPorts.includes(port), 1000, 'the port to close');

  const fatal = once(c, 'fatal', { signal: AbortSignal.timeout(5000) });
  const reset = await call('POST', `/api/licenses/${created.json.id}/reset-key`, admin);
  assert.notEqual(reset.json.key, created.json.key);
  assert.equal(((await fatal) as [MuonError])[0].code, 'MUON_ERR_AUTH_FAILED', 'the old key stops working');
});

test('a regular user sees and changes only their own licenses, within the allowed ports', async (t) => {
  const { runtime, call, login } = await start(t);
  await runtime.store.users.create({
    username: 'alice',
    passwordHash: await hashPassword('alice-password-1'),
  });
  await runtime.store.users.create({ username: 'bob', passwordHash: await hashPassword('bob-password-12') });
  const alice = await login('alice', 'alice-password-1');
  const bob = await login('bob', 'bob-password-12');
  const admin = await login('admin', ADMIN_PASSWORD);

  const mine = await call('POST', '/api/licenses', alice, { name: 'alice-lab' });
  assert.equal(mine.status, 201);
  const theirs = await call('POST', '/api/licenses', bob, { name: 'bob-lab' });

  const list = await call('GET', '/api/licenses', alice);
  assert.deepEqual(
    list.json.items.map((l: { name: string }) => l.name),
    ['alice-lab'],
  );
  for (const [method, path, body] of [
    ['GET', `/api/licenses/${theirs.json.id}`, undefined],
    ['PATCH', `/api/licenses/${theirs.json.id}`, { enabled: false }],
    ['POST', `/api/licenses/${theirs.json.id}/reset-key`, undefined],
    ['DELETE', `/api/licenses/${theirs.json.id}`, undefined],
    [
      'POST',
      `/api/licenses/${theirs.json.id}/mappings`,
      { publicPort: 20000, targetHost: 'x', targetPort: 1 },
    ],
  ] as const) {
    const answer = await call(method, path, alice, body);
    assert.equal(answer.status, 404, `${method} ${path}`);
  }
  const forOthers = await call('POST', '/api/licenses', alice, {
    name: 'sneaky',
    ownerId: Number(theirs.json.ownerId),
  });
  assert.equal(forOthers.status, 403);

  const outside = await call('POST', `/api/licenses/${mine.json.id}/mappings`, alice, {
    publicPort: 20000,
    targetHost: '127.0.0.1',
    targetPort: 22,
  });
  assert.equal(outside.status, 403);
  assert.equal(outside.json.error.field, 'publicPort');

  const all = await call('GET', '/api/licenses', admin);
  assert.deepEqual(all.json.items.map((l: { name: string }) => l.name).sort(), ['alice-lab', 'bob-lab']);
  const bad = await call('PATCH', `/api/licenses/${mine.json.id}`, alice, { uploadLimit: -1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, 'uploadLimit');
  const unknownField = await call('POST', '/api/licenses', alice, { name: 'x', color: 'blue' });
  assert.equal(unknownField.status, 400);
});

test('admins manage users and the port pool; a pool group assigned to a user opens its ports to them', async (t) => {
  const { call, login } = await start(t);
  const admin = await login('admin', ADMIN_PASSWORD);

  const carol = await call('POST', '/api/users', admin, { username: 'carol', password: 'carol-password-1' });
  assert.equal(carol.status, 201);
  assert.equal(JSON.stringify(carol.json).includes('carol-password-1'), false, 'no password in the answer');
  assert.equal('passwordHash' in carol.json, false);
  const dave = await call('POST', '/api/users', admin, { username: 'dave', password: 'dave-password-12' });
  const carolToken = await login('carol', 'carol-password-1');
  const daveToken = await login('dave', 'dave-password-12');
  assert.equal((await call('GET', '/api/users', carolToken)).status, 403, 'users are for admins');
  assert.equal((await call('POST', '/api/port-pool', carolToken, { portStart: 1 })).status, 403);

  const group = await call('POST', '/api/port-groups', admin, { name: 'carol-ports' });
  const range = await call('POST', '/api/port-pool', admin, {
    portStart: 21000,
    portEnd: 21009,
    groupId: group.json.id,
  });
  assert.equal(range.status, 201);
  const assigned = await call('POST', `/api/port-groups/${group.json.id}/assignments`, admin, {
    scope: 'user',
    userId: carol.json.id,
  });
  assert.equal(assigned.status, 201);

  const carolLicense = await call('POST', '/api/licenses', carolToken, { name: 'carol-lab' });
  const daveLicense = await call('POST', '/api/licenses', daveToken, { name: 'dave-lab' });
  const mapping = { publicPort: 21005, targetHost: '127.0.0.1', targetPort: 22 };
  assert.equal(
    (await call('POST', `/api/licenses/${carolLicense.json.id}/mappings`, carolToken, mapping)).status,
    201,
  );
  assert.equal(
    (await call('POST', `/api/licenses/${daveLicense.json.id}/mappings`, daveToken, mapping)).status,
    403,
  );
  const taken = await call('POST', `/api/licenses/${carolLicense.json.id}/mappings`, carolToken, mapping);
  assert.equal(taken.status, 409, 'one mapping per public port');

  assert.equal((await call('PATCH', `/api/users/${dave.json.id}`, admin, { enabled: false })).status, 200);
  assert.equal((await call('GET', '/api/auth/me', daveToken)).status, 401, 'a disabled user is logged out');
  const me = await call('GET', '/api/auth/me', admin);
  const last = await call('PATCH', `/api/users/${me.json.account.id}`, admin, { enabled: false });
  assert.equal(last.status, 409);
  assert.equal(last.json.error.code, 'MUON_ERR_CONFLICT');
});

test('disabling a license or its owner over HTTP kicks the client, closes visitors and ports; an old key fails', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const { runtime, call, login, client } = await start(t);
  const admin = await login('admin', ADMIN_PASSWORD);
  const [portA, portB] = [await freePort(), await freePort()];
  const group = await call('POST', '/api/port-groups', admin, { name: 'all' });
  for (const p of [portA, portB])
    await call('POST', '/api/port-pool', admin, { portStart: p, groupId: group.json.id });
  await call('POST', `/api/port-groups/${group.json.id}/assignments`, admin, { scope: 'global' });
  const frank = await call('POST', '/api/users', admin, { username: 'frank', password: 'frank-password-1' });

  const a = await call('POST', '/api/licenses', admin, { name: 'a' });
  const b = await call('POST', '/api/licenses', admin, { name: 'b', ownerId: frank.json.id });
  for (const [license, port] of [
    [a, portA],
    [b, portB],
  ] as const) {
    await call('POST', `/api/licenses/${license.json.id}/mappings`, admin, {
      publicPort: port,
      targetHost: '127.0.0.1',
      targetPort: echo.port,
    });
  }
  const clientA = client(a.json.key);
  const clientB = client(b.json.key);
  await Promise.all([once(clientA, 'online'), once(clientB, 'online')]);
  await waitFor(
    () => runtime.tunnel.publicPorts.includes(portA) && runtime.tunnel.publicPorts.includes(portB),
    2000,
    'ports',
  );
  const visitorA = await dial(portA);
  visitorA.on('error', () => {});

  const kickedA = once(clientA, 'fatal', { signal: AbortSignal.timeout(5000) });
  assert.equal((await call('PATCH', `/api/licenses/${a.json.id}`, admin, { enabled: false })).status, 200);
  assert.equal(((await kickedA) as [MuonError])[0].code, 'MUON_ERR_LICENSE_DISABLED');
  assert.equal(await closedWithin(visitorA, 2000), true);
  await waitFor(() => !runtime.tunnel.publicPorts.includes(portA), 1000, 'port A closed');

  const kickedB = once(clientB, 'fatal', { signal: AbortSignal.timeout(5000) });
  assert.equal((await call('PATCH', `/api/users/${frank.json.id}`, admin, { enabled: false })).status, 200);
  assert.equal(
    ((await kickedB) as [MuonError])[0].code,
    'MUON_ERR_LICENSE_DISABLED',
    'disabling the owner disables the license',
  );
  await waitFor(() => !runtime.tunnel.publicPorts.includes(portB), 1000, 'port B closed');

  await call('PATCH', `/api/licenses/${a.json.id}`, admin, { enabled: true });
  await call('POST', `/api/licenses/${a.json.id}/reset-key`, admin);
  const stale = client(a.json.key);
  assert.equal(
    ((await once(stale, 'fatal', { signal: AbortSignal.timeout(5000) })) as [MuonError])[0].code,
    'MUON_ERR_AUTH_FAILED',
  );
});

test('invalid requests are refused with 400 and the field at fault', async (t) => {
  const { call, login } = await start(t);
  const admin = await login('admin', ADMIN_PASSWORD);
  const license = await call('POST', '/api/licenses', admin, { name: 'v' });
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/api/licenses', {}, 'name'],
    ['POST', '/api/licenses', { name: '' }, 'name'],
    ['POST', '/api/licenses', { name: 'x', downloadLimit: 1.5 }, 'downloadLimit'],
    ['POST', '/api/licenses', { name: 'x', enabled: 'yes' }, 'enabled'],
    ['PATCH', `/api/licenses/${license.json.id}`, { description: 'x'.repeat(501) }, 'description'],
    [
      'POST',
      `/api/licenses/${license.json.id}/mappings`,
      { publicPort: 0, targetHost: 'h', targetPort: 1 },
      'publicPort',
    ],
    [
      'POST',
      `/api/licenses/${license.json.id}/mappings`,
      { publicPort: 1, targetHost: '', targetPort: 1 },
      'targetHost',
    ],
    [
      'POST',
      `/api/licenses/${license.json.id}/mappings`,
      { publicPort: 1, targetHost: 'h', targetPort: 70000 },
      'targetPort',
    ],
    [
      'POST',
      `/api/licenses/${license.json.id}/mappings`,
      { publicPort: 1, targetHost: 'h', targetPort: 1, protocol: 'sctp' },
      'protocol',
    ],
    [
      'POST',
      `/api/licenses/${license.json.id}/mappings`,
      { publicPort: 1, targetHost: 'h', targetPort: 1, proxyProtocol: 'v3' },
      'proxyProtocol',
    ],
    ['POST', '/api/users', { username: 'bad name', password: 'long-enough-password' }, 'username'],
    ['POST', '/api/users', { username: 'ok', password: 'short' }, 'password'],
    ['POST', '/api/users', { username: 'ok', password: 'long-enough-password', role: 'root' }, 'role'],
    ['POST', '/api/port-pool', { portStart: 70000 }, 'portStart'],
    ['POST', '/api/port-groups', { name: '' }, 'name'],
    ['POST', '/api/port-groups/1/assignments', { scope: 'user' }, 'userId'],
    ['GET', '/api/licenses?limit=abc', undefined, 'limit'],
  ];
  for (const [method, path, body, field] of cases) {
    const answer = await call(method, path, admin, body);
    assert.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    assert.equal(answer.json.error.code, 'MUON_ERR_INVALID_INPUT');
    assert.equal(answer.json.error.field, field, `${method} ${path} ${JSON.stringify(body)}`);
  }
  assert.equal((await call('GET', '/api/licenses/abc', admin)).status, 404);
  assert.equal((await call('GET', '/api/licenses/999999', admin)).status, 404);
});
