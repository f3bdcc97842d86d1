// A clean server restart (SIGTERM, then a new process on the same ports and data directory):
// every client reconnects on its own with backoff and jitter (their reconnect times spread out,
// not one burst), the mappings serve again, and the traffic counted before the stop is in the
// store, to the byte. Real `muon server` and `muon client` processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { echoes, Fleet, type LogLine } from '../support/processes.ts';
import { closedAt, spread, within } from './traffic.ts';

const CLIENTS = 4;
const INITIAL_DELAY_MS = 400;

interface TrafficReport {
  items: Array<{ bytesIn: string; bytesOut: string }>;
}

function timeOf(line: LogLine): number {
  return Date.parse(String(line.time));
}

test('after a clean server restart, clients reconnect with jittered backoff, mappings serve again, and traffic from before the stop is in the store', {
  timeout: 50_000,
}, async (t) => {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup));
  const echo = await echoServer();
  t.after(() => echo.close());
  const ports = await Promise.all(Array.from({ length: CLIENTS }, () => freePort()));
  const licenses = ports.map((port, i) => ({
    name: `site-${i}`,
    key: `fault-restart-license-${i}-0123456789abcdef`,
    mappings: [{ port, target: `127.0.0.1:${echo.port}` }],
  }));
  const server = await fleet.server({ licenses });
  const clients = await Promise.all(
    licenses.map((l) =>
      fleet.client(server, l.name, l.key, {
        reconnect: { initialDelay: `${INITIAL_DELAY_MS}ms`, maxDelay: '3s' },
      }),
    ),
  );
  await Promise.all(clients.map((c) => c.waitForLog('client online')));

  // Known traffic: one visitor that finished, one still connected when the server stops.
  const [finishedPort, openPort] = ports as [number, number];
  const finished = await dial(finishedPort);
  const finishedReply = readAll(finished);
  finished.end(Buffer.alloc(100_000, 1));
  assert.equal((await finishedReply).length, 100_000);
  finished.destroy();
  const open = await dial(openPort);
  open.on('error', () => {});
  let openEchoed = 0;
  open.on('data', (c: Buffer) => {
    openEchoed += c.length;
  });
  const openClosed = closedAt(open);
  open.write(Buffer.alloc(50_000, 2));
  await waitFor(() => openEchoed === 50_000, 5000, 'the open visitor to be echoed');

  // A clean stop: exit code 0, every client told and retrying.
  const stoppedAt = performance.now();
  assert.deepEqual(await server.proc.stop(), { code: 0, signal: null });
  const stopMs = Math.round(performance.now() - stoppedAt);
  assert.ok(Number.isFinite(await within(openClosed, 2000, Number.NaN)), 'the open visitor is closed');
  await Promise.all(clients.map((c) => c.waitForLog('disconnected; will retry', { ms: 5000 })));
  for (const c of clients) {
    assert.equal(c.logsOf('disconnected; will retry')[0]?.code, 'MUON_ERR_SHUTDOWN', c.name);
  }

  // Times are wall-clock, as in the processes' logs. The tunnel listens before the admin API, so
  // a client may be back before the server logs "ready": count from the new process's start.
  const restartedAt = Date.now();
  const readyMs = timeOf(await server.restart()) - restartedAt;
  const online = await Promise.all(
    clients.map((c) => c.waitForLog('client online', { count: 2, ms: 10_000 })),
  );
  const reconnectMs = online.map((line) => timeOf(line) - restartedAt);
  // Each retry is logged with its delay: the attempt is made that long after the log line.
  const retryLines = clients.map((c) =>
    c
      .logsOf('disconnected; will retry')
      .filter((l) => timeOf(l) < timeOf(c.logsOf('client online')[1] as LogLine)),
  );
  const retries = retryLines.map((lines) => lines.map((l) => Number(l.retryInMs)));
  const attempts = retryLines.map((lines) => lines.map((l) => timeOf(l) + Number(l.retryInMs) - restartedAt));
  t.diagnostic(`clean stop took ${stopMs} ms (SIGTERM to exit 0)`);
  t.diagnostic(`retry delays per client (ms): ${JSON.stringify(retries)}`);
  t.diagnostic(
    `reconnect attempts per client, from the new server's start (ms): ${JSON.stringify(attempts)}`,
  );
  t.diagnostic(
    `new server process ready after ${readyMs} ms; clients online after (ms): ${JSON.stringify(reconnectMs)}`,
  );

  // Backoff: each client waited longer each time; jitter: the clients did not move in step.
  for (const delays of retries) {
    assert.ok(delays.length >= 1);
    const first = delays[0] as number;
    assert.ok(first >= INITIAL_DELAY_MS / 2 && first <= INITIAL_DELAY_MS, `first retry ${first} ms`);
    for (let i = 1; i < delays.length; i++) {
      const ceiling = Math.min(3000, INITIAL_DELAY_MS * 2 ** i);
      const delay = delays[i] as number;
      assert.ok(
        delay >= ceiling / 2 && delay <= ceiling,
        `retry ${i}: ${delay} ms within [${ceiling / 2}, ${ceiling}]`,
      );
    }
  }
  const firsts = new Set(retries.map((d) => d[0]));
  assert.ok(firsts.size > 1, `first retry delays are not all equal: ${[...firsts].join(', ')}`);
  // The clients were all told at the same instant; their first attempts are spread by the
  // jitter (uniform over 200 ms here). Coming online can still bunch up: a server that is busy
  // starting accepts the connections queued meanwhile all at once.
  const first = spread(attempts.map((a) => a[0] as number));
  assert.ok(first.max - first.min >= 5, `first attempts spread over ${first.max - first.min} ms`);
  assert.ok(
    spread(reconnectMs).max <= readyMs + 5000,
    'every client back within 5 s of the server being ready',
  );

  // Traffic from before the stop was flushed to the store at the clean stop.
  const token = await server.login();
  const mappings = await server.get<{ items: Array<{ id: number; publicPort: number }> }>(
    '/api/mappings?limit=100',
    token,
  );
  const idOf = (port: number) => mappings.items.find((m) => m.publicPort === port)?.id;
  const totals = async (port: number) => {
    const report = await server.get<TrafficReport>(
      `/api/reports/traffic?mappingId=${idOf(port)}&granularity=minute`,
      token,
    );
    return report.items.reduce(
      (sum, b) => ({ in: sum.in + BigInt(b.bytesIn), out: sum.out + BigInt(b.bytesOut) }),
      { in: 0n, out: 0n },
    );
  };
  const finishedTotals = await totals(finishedPort);
  const openTotals = await totals(openPort);
  t.diagnostic(
    `store after restart: finished visitor in=${finishedTotals.in} out=${finishedTotals.out}; ` +
      `visitor open at the stop in=${openTotals.in} out=${openTotals.out}`,
  );
  assert.deepEqual(finishedTotals, { in: 100_000n, out: 100_000n });
  assert.deepEqual(openTotals, { in: 50_000n, out: 50_000n });

  // Every mapping serves again.
  for (const port of ports) assert.equal(await echoes(port, `back on ${port}`), true);
});
