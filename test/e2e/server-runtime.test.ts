// The whole server as `muon server` runs it: SQLite store, licenses declared in YAML mirrored
// into it, live changes made in the store applied to the running tunnel, and traffic counted
// before a clean stop found in the store afterwards.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import type { MuonError } from '../../src/errors.ts';
import { openStore } from '../../src/store/store.ts';
import { dial, echoServer, freePort, listenLocal, readAll, waitFor } from '../support/net.ts';
import { startRuntime } from '../support/runtime.ts';

const KEY = 'runtime-license-key-0123456789abcdef';

async function startWithLab(t: TestContext, targetPort: number) {
  const publicPort = await freePort();
  const started = await startRuntime(t, [
    'licenses:',
    `  - { name: lab, key: "${KEY}", mappings: [{ port: ${publicPort}, target: "127.0.0.1:${targetPort}" }] }`,
  ]);
  const client = started.client(KEY);
  await once(client, 'online', { signal: AbortSignal.timeout(5000) });
  return { ...started, client, publicPort };
}

test('traffic counted before a clean stop is in the store afterwards', async (t) => {
  const target = await listenLocal((socket) => {
    socket.resume();
    socket.on('end', () => socket.end(Buffer.alloc(50_000)));
  });
  t.after(() => target.close());
  const { runtime, config, publicPort } = await startWithLab(t, target.port);

  for (let i = 0; i < 2; i++) {
    const visitor = await dial(publicPort);
    const reply = readAll(visitor);
    visitor.end(Buffer.alloc(100_000));
    assert.equal((await reply).length, 50_000);
    visitor.destroy();
  }
  await waitFor(() => runtime.tunnel.sessions[0]?.stats.busy === 0, 2000, 'visitors to finish');
  await runtime.close();

  const store = await openStore({ dataDir: config.dataDir });
  t.after(() => store.close());
  const totals = await store.traffic.totals({ granularity: 'minute' });
  assert.deepEqual(totals, { bytesIn: 200_000n, bytesOut: 100_000n });
  assert.equal(await store.users.countAdmins(), 1, 'the first admin was created');
  const [session] = (await store.connections.list()).items;
  assert.equal(session?.licenseName, 'lab');
  assert.equal(session?.remoteAddress, '127.0.0.1');
  assert.equal(session?.closeCode, 'MUON_ERR_SHUTDOWN');
  const lab = (await store.licenses.list()).items.find((l) => l.name === 'lab');
  assert.equal(lab?.online, false, 'offline after the stop');
  assert.ok(lab?.lastSeenAt);
});

test('changes made in the store apply to the running tunnel at once', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const { runtime, client } = await startWithLab(t, echo.port);
  const license = (await runtime.store.licenses.list()).items.find((l) => l.name === 'lab');
  assert.ok(license);
  let online = false;
  for (let i = 0; i < 100 && !online; i++) {
    online = (await runtime.store.licenses.get(license.id))?.online ?? false;
    if (!online) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(online, true, 'online in the store while its client is');

  const extra = await freePort();
  const mapping = await runtime.store.mappings.create({
    licenseId: license.id,
    publicPort: extra,
    targetHost: '127.0.0.1',
    targetPort: echo.port,
  });
  await waitFor(() => runtime.tunnel.publicPorts.includes(extra), 1000, 'the new mapping to listen');
  const visitor = await dial(extra);
  const reply = readAll(visitor);
  visitor.end('live');
  assert.equal((await reply).toString(), 'live');

  await runtime.store.mappings.update(mapping.id, { enabled: false });
  await waitFor(() => !runtime.tunnel.publicPorts.includes(extra), 1000, 'the disabled mapping to close');

  const fatal = once(client, 'fatal', { signal: AbortSignal.timeout(5000) });
  await runtime.store.licenses.update(license.id, { enabled: false });
  const [error] = (await fatal) as [MuonError];
  assert.equal(error.code, 'MUON_ERR_LICENSE_DISABLED');
  assert.equal(runtime.tunnel.sessions.length, 0);
});
