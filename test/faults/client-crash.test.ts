// A client process that dies (kill -9) in the middle of transfers: its visitors are closed
// promptly, the server forgets the session and every visitor of it, and a restarted client
// serves the mapping again within seconds. Real `muon server` and `muon client` processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dial, echoServer, freePort, waitFor } from '../support/net.ts';
import { echoes, elapsed, Fleet } from '../support/processes.ts';
import { spread, stream, within } from './traffic.ts';

const KEY = 'fault-crash-license-key-0123456789abcdef';
const VISITORS = 8;

test('a client killed with SIGKILL mid-transfer: its visitors close within 2 s, the server releases the session and every visitor, and a restarted client serves within 5 s', {
  timeout: 45_000,
}, async (t) => {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup));
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const server = await fleet.server({
    licenses: [{ name: 'lab', key: KEY, mappings: [{ port, target: `127.0.0.1:${echo.port}` }] }],
  });
  const client = await fleet.client(server, 'lab', KEY);
  await client.waitForLog('client online');
  assert.equal(await echoes(port), true);

  // Visitors streaming both ways through the tunnel, each well into its transfer.
  const visitors = await Promise.all(Array.from({ length: VISITORS }, () => dial(port)));
  t.after(() => {
    for (const v of visitors) v.destroy();
  });
  const streams = visitors.map((v) => stream(v));
  await waitFor(() => streams.every((s) => s.read() >= 1024 * 1024), 15_000, 'every visitor to move 1 MiB');
  const before = await server.metrics();
  assert.equal(before.value('muon_clients_online'), 1);
  assert.equal(before.value('muon_visitor_connections_active'), VISITORS);

  const killedAt = performance.now();
  await client.kill();
  const closeTimes = await Promise.all(streams.map((s) => within(s.closed, 5000, Number.NaN)));
  const closeMs = closeTimes.map((at) => at - killedAt);
  const moved = streams.reduce((sum, s) => sum + s.read(), 0);
  t.diagnostic(`visitor close after kill -9 (ms): ${JSON.stringify(spread(closeMs))}`);
  t.diagnostic(`bytes echoed to visitors before the kill: ${moved}`);
  assert.ok(
    closeMs.every((ms) => ms <= 2000),
    `every visitor closed within 2 s: ${closeMs.map(Math.round).join(', ')}`,
  );

  // The server releases the session, its port and its visitors.
  await waitFor(
    async () => {
      const m = await server.metrics();
      return (
        m.value('muon_clients_online') === 0 &&
        m.value('muon_visitor_connections_active') === 0 &&
        m.value('muon_public_ports_open') === 0
      );
    },
    3000,
    'the server to release the session',
  );
  const releasedMs = elapsed(killedAt);
  // No socket of the dead client or of its visitors is left in the server process.
  const leftover = async () =>
    (await server.proc.tcpSockets()).filter(
      (s) => (s.localPort === server.tunnelPort || s.localPort === port) && s.state !== 'LISTEN',
    ).length;
  await waitFor(
    async () => (await leftover()) === 0,
    2000,
    'the server to close every socket of the session',
  );
  t.diagnostic(`server gauges at zero ${releasedMs} ms after the kill; sockets left: ${await leftover()}`);
  const token = await server.login();
  await waitFor(
    async () => (await server.get<{ total: number }>('/api/reports/online', token)).total === 0,
    3000,
    'the store to show no client online',
  );
  await assert.rejects(dial(port), { code: 'ECONNREFUSED' }, 'the public port is closed');

  // A restarted client takes the mapping back.
  const restartedAt = performance.now();
  const again = await fleet.client(server, 'lab', KEY);
  await waitFor(() => echoes(port, 'back', 500), 5000, 'the restarted client to serve');
  const servingMs = elapsed(restartedAt);
  t.diagnostic(`restarted client process serving after ${servingMs} ms (includes Node start-up)`);
  assert.ok(servingMs <= 5000);
  const after = await server.metrics();
  assert.equal(after.value('muon_clients_online'), 1);
  assert.equal((await server.get<{ total: number }>('/api/reports/online', token)).total, 1);
  assert.equal(again.running, true);
});
