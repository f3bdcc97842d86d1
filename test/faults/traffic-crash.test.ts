// A server killed with SIGKILL (no clean stop, no last flush) keeps the traffic it counted up to
// its last flush: with `store.trafficFlushInterval: 1s`, a finished visitor's bytes and those a
// still-connected visitor moved before the last heartbeat are in the store when a new process
// starts on the same data directory. Real `muon server` and `muon client` processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { Fleet, type ServerHandle } from '../support/processes.ts';

const KEY = 'fault-traffic-crash-license-0123456789abcdef';

interface TrafficReport {
  items: Array<{ bytesIn: string; bytesOut: string }>;
}

/** Bytes in the store for the mapping on `port`, summed over its minute buckets, via the admin API. */
async function storedTotals(server: ServerHandle, port: number): Promise<{ in: bigint; out: bigint }> {
  const token = await server.login();
  const mappings = await server.get<{ items: Array<{ id: number; publicPort: number }> }>(
    '/api/mappings?limit=100',
    token,
  );
  const id = mappings.items.find((m) => m.publicPort === port)?.id;
  const report = await server.get<TrafficReport>(
    `/api/reports/traffic?mappingId=${id}&granularity=minute`,
    token,
  );
  return report.items.reduce(
    (sum, b) => ({ in: sum.in + BigInt(b.bytesIn), out: sum.out + BigInt(b.bytesOut) }),
    { in: 0n, out: 0n },
  );
}

test('after kill -9 the store holds the traffic counted until the last flush', {
  timeout: 50_000,
}, async (t) => {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup));
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const server = await fleet.server({
    licenses: [{ name: 'site', key: KEY, mappings: [{ port, target: `127.0.0.1:${echo.port}` }] }],
    yaml: ['store: { trafficFlushInterval: 1s }', 'heartbeat: { interval: 1s, timeout: 3s }'],
  });
  const client = await fleet.client(server, 'site', KEY);
  await client.waitForLog('client online');

  const finished = await dial(port);
  const reply = readAll(finished);
  finished.end(Buffer.alloc(100_000, 1));
  assert.equal((await reply).length, 100_000);
  finished.destroy();
  const open = await dial(port);
  open.on('error', () => {});
  let echoed = 0;
  open.on('data', (c: Buffer) => {
    echoed += c.length;
  });
  open.write(Buffer.alloc(50_000, 2));
  await waitFor(() => echoed === 50_000, 5000, 'the open visitor to be echoed');
  const echoedAt = performance.now();

  // Stored while the server runs: within a heartbeat (the open visitor's report) and a flush.
  await waitFor(
    async () => (await storedTotals(server, port)).in === 150_000n,
    10_000,
    'the traffic in the store',
  );
  t.diagnostic(`in the store ${Math.round(performance.now() - echoedAt)} ms after the last bytes moved`);

  await server.proc.kill();
  assert.equal(server.proc.child.signalCode, 'SIGKILL');
  open.destroy();
  await server.restart();
  assert.deepEqual(await storedTotals(server, port), { in: 150_000n, out: 150_000n });
});
