// Traffic reaches the store while the server runs, every `store.trafficFlushInterval`, not only at
// a clean stop: a finished visitor's bytes within one interval, a connected visitor's within a
// heartbeat interval more. Several flushes in one minute add to that minute's row, and roll-ups
// and the flush at close count nothing twice. On SQLite, and on PostgreSQL's semantics (PGlite).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { openStore } from '../../src/store/store.ts';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { startRuntime } from '../support/runtime.ts';

const KEY = 'traffic-flush-license-key-0123456789abcdef';

for (const url of [undefined, 'pglite:pg']) {
  const kind = url ? 'PGlite' : 'SQLite';
  test(`${kind}: with a 1s flush interval, counted traffic is in the store within seconds, each byte once`, {
    timeout: 60_000,
  }, async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const publicPort = await freePort();
    const { runtime, config, client } = await startRuntime(t, [
      `store: { trafficFlushInterval: 1s${url ? `, url: "${url}"` : ''} }`,
      'heartbeat: { interval: 1s, timeout: 3s }',
      'licenses:',
      `  - { name: lab, key: "${KEY}", mappings: [{ port: ${publicPort}, target: "127.0.0.1:${echo.port}" }] }`,
    ]).then((started) => ({ ...started, client: started.client(KEY) }));
    await once(client, 'online', { signal: AbortSignal.timeout(5000) });
    const { store } = runtime;
    const stored = (granularity: 'minute' | 'hour') => store.traffic.totals({ granularity });
    const inStore = async (bytes: bigint, what: string) => {
      const since = performance.now();
      await waitFor(
        async () => {
          const totals = await stored('minute');
          return totals.bytesIn === bytes && totals.bytesOut === bytes;
        },
        5000,
        what,
      );
      return Math.round(performance.now() - since);
    };

    // A visitor that finishes: reported when it leaves, stored at the next flush.
    const finished = await dial(publicPort);
    const reply = readAll(finished);
    finished.end(Buffer.alloc(100_000, 1));
    assert.equal((await reply).length, 100_000);
    finished.destroy();
    const finishedMs = await inStore(100_000n, 'the finished visitor in the store');

    // A visitor still connected: reported every heartbeat interval, then stored at the next flush.
    const open = await dial(publicPort);
    open.on('error', () => {});
    let echoed = 0;
    open.on('data', (c: Buffer) => {
      echoed += c.length;
    });
    open.write(Buffer.alloc(30_000, 2));
    await waitFor(() => echoed === 30_000, 3000, 'the open visitor to be echoed');
    const openMs = await inStore(130_000n, 'the open visitor in the store');
    t.diagnostic(
      `in the store ${finishedMs} ms after the finished visitor left; ${openMs} ms after the open one was echoed`,
    );

    // Roll-ups recompute hours from minutes: run twice, between flushes, they still match.
    await store.traffic.rollUp();
    assert.deepEqual(await stored('hour'), { bytesIn: 130_000n, bytesOut: 130_000n });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // another flush, with nothing new
    await store.traffic.rollUp();
    assert.deepEqual(await stored('hour'), { bytesIn: 130_000n, bytesOut: 130_000n });
    assert.deepEqual(await stored('minute'), { bytesIn: 130_000n, bytesOut: 130_000n });

    // The clean stop flushes what is left, and only that.
    await runtime.close();
    const reopened = await openStore({ dataDir: config.dataDir, ...(url && { url }) });
    t.after(() => reopened.close());
    assert.deepEqual(await reopened.traffic.totals({ granularity: 'minute' }), {
      bytesIn: 130_000n,
      bytesOut: 130_000n,
    });
  });
}
