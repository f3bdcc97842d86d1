// A network stall, made by freezing a process (SIGSTOP) for longer than the heartbeat timeout:
// the other side detects it within timeout ± one interval and cleans up; after SIGCONT the
// client notices, reconnects, and the mapping serves again. Heartbeats are shortened in the
// server's YAML (heartbeat.interval / heartbeat.timeout; clients take them from AUTH_OK).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dial, echoServer, freePort, waitFor } from '../support/net.ts';
import { echoes, Fleet, type LogLine } from '../support/processes.ts';
import { closedAt, within } from './traffic.ts';

const KEY = 'fault-stall-license-key-0123456789abcdef';
const INTERVAL_MS = 500;
const TIMEOUT_MS = 1500;
/** Scheduling slack on a busy 2-core machine. */
const SLACK_MS = 700;
const HEARTBEAT = [`heartbeat: { interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms }`];

async function setUp(t: import('node:test').TestContext) {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup));
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const server = await fleet.server({
    licenses: [{ name: 'lab', key: KEY, mappings: [{ port, target: `127.0.0.1:${echo.port}` }] }],
    yaml: HEARTBEAT,
  });
  const client = await fleet.client(server, 'lab', KEY, {
    reconnect: { initialDelay: '200ms', maxDelay: '2s' },
  });
  await client.waitForLog('client online');
  assert.equal(await echoes(port), true);
  return { server, client, port };
}

test('a client frozen past the heartbeat timeout is dropped by the server within timeout + interval, and after SIGCONT it reconnects and serves', {
  timeout: 30_000,
}, async (t) => {
  const { server, client, port } = await setUp(t);
  const held = await dial(port);
  const heldClosed = closedAt(held);
  let echoed = 0;
  held.on('data', (c: Buffer) => {
    echoed += c.length;
  });
  held.write('hello');
  await waitFor(() => echoed === 5, 2000, 'the held visitor to be echoed');
  // Let the client finish opening the channel that replaces the one the visitor took: a channel
  // caught mid-handshake by the freeze is held until the handshake timeout, not the heartbeat.
  await sleep(300);

  const stoppedAt = performance.now();
  client.signal('SIGSTOP');
  await waitFor(
    async () => (await server.metrics()).value('muon_clients_online') === 0,
    TIMEOUT_MS + INTERVAL_MS + SLACK_MS + 1000,
    'the server to drop the frozen client',
  );
  const detectMs = Math.round(performance.now() - stoppedAt);
  const visitorClosedMs = Math.round((await within(heldClosed, 2000, Number.NaN)) - stoppedAt);
  const m = await server.metrics();
  t.diagnostic(
    `server dropped the frozen client after ${detectMs} ms (heartbeat ${INTERVAL_MS}/${TIMEOUT_MS} ms); ` +
      `its held visitor closed after ${visitorClosedMs} ms`,
  );
  // Silence is counted from the client's last PING, at most one interval before the freeze.
  assert.ok(detectMs >= TIMEOUT_MS - INTERVAL_MS, `not before the timeout (${detectMs} ms)`);
  assert.ok(detectMs <= TIMEOUT_MS + INTERVAL_MS + SLACK_MS, `within timeout + interval (${detectMs} ms)`);
  assert.ok(visitorClosedMs <= TIMEOUT_MS + INTERVAL_MS + SLACK_MS, 'the held visitor is closed');
  assert.equal(m.value('muon_visitor_connections_active'), 0);
  assert.equal(m.value('muon_public_ports_open'), 0);
  await assert.rejects(dial(port), { code: 'ECONNREFUSED' }, 'the public port is closed');
  const kick = server.proc.logs().find((l) => l.code === 'MUON_ERR_HEARTBEAT_TIMEOUT');
  assert.ok(kick, 'the server logs MUON_ERR_HEARTBEAT_TIMEOUT');
  // The frozen client's connections are let go too (the command channel after a 1 s grace).
  const tunnelSockets = async () =>
    (await server.proc.tcpSockets()).filter((s) => s.localPort === server.tunnelPort && s.state !== 'LISTEN')
      .length;
  await waitFor(
    async () => (await tunnelSockets()) === 0,
    2000,
    'the server to close the tunnel connections',
  );
  t.diagnostic(
    `server sockets of the frozen client closed ${Math.round(performance.now() - stoppedAt)} ms after SIGSTOP`,
  );

  // Stay frozen a while longer, then thaw: the client finds its session gone and reconnects.
  await sleep(Math.max(0, TIMEOUT_MS + 2 * INTERVAL_MS - (performance.now() - stoppedAt)));
  const thawedAt = performance.now();
  client.signal('SIGCONT');
  const offline = await client.waitForLog('disconnected; will retry', { ms: 5000 });
  await waitFor(() => echoes(port, 'thawed', 500), 5000, 'the mapping to serve again');
  const servingMs = Math.round(performance.now() - thawedAt);
  t.diagnostic(
    `frozen ${Math.round(thawedAt - stoppedAt)} ms; after SIGCONT the client logged ${offline.code} and ` +
      `the mapping served again after ${servingMs} ms`,
  );
  assert.ok(servingMs <= 3000, `serving again within 3 s of SIGCONT (${servingMs} ms)`);
  assert.equal((await server.metrics()).value('muon_clients_online'), 1);
});

test('a server frozen past the heartbeat timeout is dropped by the client within timeout + interval, and after SIGCONT the client is back', {
  timeout: 30_000,
}, async (t) => {
  const { server, client, port } = await setUp(t);
  const stoppedAt = Date.now();
  server.proc.signal('SIGSTOP');
  const offline: LogLine = await client.waitForLog('disconnected; will retry', {
    ms: TIMEOUT_MS + INTERVAL_MS + SLACK_MS + 1000,
  });
  const detectMs = Date.parse(String(offline.time)) - stoppedAt;
  t.diagnostic(`client dropped the frozen server after ${detectMs} ms with ${offline.code}`);
  assert.equal(offline.code, 'MUON_ERR_HEARTBEAT_TIMEOUT');
  assert.ok(detectMs >= TIMEOUT_MS - INTERVAL_MS, `not before the timeout (${detectMs} ms)`);
  assert.ok(detectMs <= TIMEOUT_MS + INTERVAL_MS + SLACK_MS, `within timeout + interval (${detectMs} ms)`);

  await sleep(500); // the client is retrying against a server that does not answer
  const thawedAt = Date.now();
  server.proc.signal('SIGCONT');
  await client.waitForLog('client online', { count: 2, ms: 10_000 });
  await waitFor(() => echoes(port, 'thawed', 500), 5000, 'the mapping to serve again');
  const servingMs = Date.now() - thawedAt;
  t.diagnostic(`after SIGCONT the mapping served again after ${servingMs} ms`);
  assert.ok(servingMs <= 3000, `serving again within 3 s of SIGCONT (${servingMs} ms)`);
  await waitFor(
    async () => (await server.metrics()).value('muon_clients_online') === 1,
    3000,
    'exactly one session (the old one is gone)',
  );
});
