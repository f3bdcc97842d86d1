// Target services that fail: one that refuses (nothing listening), one that resets mid-stream,
// one that stops reading while the visitor keeps writing. The visitor sees the close promptly,
// or backpressure stops it with memory bounded in both processes, and nothing leaks: the
// server's visitor gauge returns to zero, and neither process keeps a socket for the visitor
// (read from /proc/<pid>/fd and /proc/<pid>/net/tcp).

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  dial,
  echoServer,
  freePort,
  kernelBufferMax,
  listenLocal,
  type TestServer,
  waitFor,
} from '../support/net.ts';
import { echoes, Fleet, type MuonProcess, type ServerHandle } from '../support/processes.ts';
import { closedAt, spread, stream, within } from './traffic.ts';

const KEY = 'fault-target-license-key-0123456789abcdef';
const MiB = 1024 * 1024;

/**
 * The most a visitor can write into a target that reads nothing before backpressure stops it:
 * what the socket buffers of its path may grow to (three TCP connections: visitor–server,
 * channel, client–target; each a send and a receive buffer, autotuned up to the kernel's
 * maxima) and 1 MiB more for the processes' own write buffers. On Linux's defaults that is
 * 3 × (6 + 4) + 1 = 31 MiB; machines with larger maxima (32 MiB receive buffers here) allow more.
 */
function pathBufferBound(): number {
  const rmem = kernelBufferMax('/proc/sys/net/ipv4/tcp_rmem', 6 * MiB);
  const wmem = kernelBufferMax('/proc/sys/net/ipv4/tcp_wmem', 4 * MiB);
  return 3 * (rmem + wmem) + MiB;
}

describe('target services that fail', () => {
  let server: ServerHandle;
  let client: MuonProcess;
  let echo: TestServer;
  let resetting: TestServer;
  let stalled: TestServer;
  let flooding: TestServer;
  let nothing = 0;
  const resetAt: number[] = [];
  const ports = { refused: 0, reset: 0, stalled: 0, flooding: 0, echo: 0 };
  /** Visitors writing into the stalled target, left for the test after the backpressure one. */
  let stalledVisitors: Socket[] = [];
  // Registered here, not inside before(): cleanups run after the last test, failed or not.
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    const fleet = await Fleet.create((cleanup) => cleanups.push(cleanup));
    echo = await echoServer();
    // Sends 64 KiB, and resets the connection as soon as the visitor's first bytes arrive.
    resetting = await listenLocal((socket) => {
      socket.write(Buffer.alloc(64 * 1024, 3));
      socket.once('data', () => {
        resetAt.push(performance.now());
        socket.resetAndDestroy();
      });
    });
    stalled = await listenLocal((socket) => socket.pause());
    // Writes as fast as it may for 1 s, then resets.
    flooding = await listenLocal((socket) => {
      stream(socket);
      setTimeout(() => {
        resetAt.push(performance.now());
        socket.resetAndDestroy();
      }, 1000);
    });
    cleanups.push(() => Promise.all([echo.close(), resetting.close(), stalled.close(), flooding.close()]));
    nothing = await freePort();
    for (const name of Object.keys(ports) as Array<keyof typeof ports>) ports[name] = await freePort();
    server = await fleet.server({
      licenses: [
        {
          name: 'lab',
          key: KEY,
          mappings: [
            { port: ports.refused, target: `127.0.0.1:${nothing}` },
            { port: ports.reset, target: `127.0.0.1:${resetting.port}` },
            { port: ports.stalled, target: `127.0.0.1:${stalled.port}` },
            { port: ports.flooding, target: `127.0.0.1:${flooding.port}` },
            { port: ports.echo, target: `127.0.0.1:${echo.port}` },
          ],
        },
      ],
    });
    client = await fleet.client(server, 'lab', KEY, { minIdle: 4 });
    await client.waitForLog('client online');
    assert.equal(await echoes(ports.echo), true);
  });

  /**
   * Nothing of `port` is left: no visitor socket on the server, no target socket in the client
   * (both read from /proc), the server's visitor gauge back to zero, and the echo mapping serves.
   */
  async function nothingLeaks(what: string, port: number, targetPort: number, ms = 3000): Promise<void> {
    await waitFor(
      async () => {
        const [m, visitorSockets, targetSockets] = await Promise.all([
          server.metrics(),
          server.proc.tcpSockets(),
          client.tcpSockets(),
        ]);
        return (
          m.value('muon_visitor_connections_active') === 0 &&
          !visitorSockets.some((s) => s.localPort === port && s.state !== 'LISTEN') &&
          !targetSockets.some((s) => s.remotePort === targetPort)
        );
      },
      ms,
      `${what}: no visitor or target socket left, and the visitor gauge back to 0`,
    );
    const m = await server.metrics();
    assert.equal(m.value('muon_clients_online'), 1, `${what}: the client stays online`);
    assert.equal(await echoes(ports.echo), true, `${what}: the echo mapping still serves`);
  }

  test('a target that refuses: 20 visitors are each closed within 1 s, having received nothing', async (t) => {
    const opened = performance.now();
    const visitors = await Promise.all(Array.from({ length: 20 }, () => dial(ports.refused)));
    const received = visitors.map(() => 0);
    visitors.forEach((v, i) => {
      v.on('data', (c: Buffer) => {
        received[i] = (received[i] ?? 0) + c.length;
      });
      v.on('error', () => {});
      v.write('hello?');
    });
    const closed = await Promise.all(visitors.map((v) => within(closedAt(v), 3000, Number.NaN)));
    for (const v of visitors) v.destroy();
    const closeMs = closed.map((at) => at - opened);
    t.diagnostic(`refused target: visitor closed after (ms) ${JSON.stringify(spread(closeMs))}`);
    assert.ok(
      closeMs.every((ms) => ms <= 1000),
      `closed within 1 s: ${closeMs.map(Math.round).join(', ')}`,
    );
    assert.deepEqual(new Set(received), new Set([0]));
    await waitFor(
      () => server.proc.logs().filter((l) => l.code === 'MUON_ERR_TARGET_UNREACHABLE').length >= 20,
      2000,
      'the server to log 20 unreachable targets',
    );
    await nothingLeaks('refused', ports.refused, nothing);
  });

  test('a target that resets mid-stream: 10 visitors get the bytes sent before the reset, then the close within 1 s', async (t) => {
    resetAt.length = 0;
    const visitors: Socket[] = [];
    const received: number[] = [];
    const closes: Array<Promise<number>> = [];
    for (let i = 0; i < 10; i++) {
      const v = await dial(ports.reset);
      visitors.push(v);
      received.push(0);
      v.on('data', (c: Buffer) => {
        received[i] = (received[i] ?? 0) + c.length;
        // Speak once the target has spoken: the target then resets.
        if (received[i] === c.length) v.write('now reset');
      });
      closes.push(within(closedAt(v), 3000, Number.NaN));
    }
    const closed = await Promise.all(closes);
    for (const v of visitors) v.destroy();
    assert.equal(resetAt.length, 10, 'every target connection was reset');
    const sorted = [...resetAt].sort((a, b) => a - b);
    // Visitors are served one after another; pair each close with the reset just before it.
    const afterReset = closed.map((at) => at - Math.max(...sorted.filter((r) => r <= at)));
    t.diagnostic(`reset target: visitor closed after the reset (ms) ${JSON.stringify(spread(afterReset))}`);
    t.diagnostic(`bytes each visitor received before the close: ${JSON.stringify([...new Set(received)])}`);
    assert.ok(
      afterReset.every((ms) => ms <= 1000),
      `closed within 1 s: ${afterReset.map(Math.round).join(', ')}`,
    );
    assert.ok(
      received.every((n) => n > 0 && n <= 64 * 1024),
      'each got (some of) what was sent before the reset',
    );
    await nothingLeaks('reset', ports.reset, resetting.port);
  });

  test('a target that stops reading: backpressure stops 4 writing visitors, and RSS stays bounded in both processes', async (t) => {
    const rss = async () => ({ server: await server.proc.rssKiB(), client: await client.rssKiB() });
    const baseline = await rss();
    stalledVisitors = await Promise.all(Array.from({ length: 4 }, () => dial(ports.stalled)));
    const streams = stalledVisitors.map((v) => stream(v));
    await waitFor(() => stalled.sockets.size === 4, 3000, 'the 4 visitors to reach the target');
    const samples: Array<{ server: number; client: number }> = [];
    let writtenAt2s = 0;
    for (let i = 0; i < 12; i++) {
      await sleep(250);
      samples.push(await rss());
      if (i === 7) writtenAt2s = streams.reduce((sum, s) => sum + s.written(), 0);
    }
    const each = streams.map((s) => s.written());
    const written = each.reduce((a, b) => a + b, 0);
    for (const s of streams) s.stop();
    const peak = {
      server: Math.max(...samples.map((s) => s.server)),
      client: Math.max(...samples.map((s) => s.client)),
    };
    t.diagnostic(
      `stalled target: visitors wrote ${(written / MiB).toFixed(1)} MiB in 3 s ` +
        `(each ${each.map((n) => (n / MiB).toFixed(1)).join(', ')} MiB), ` +
        `${((written - writtenAt2s) / MiB).toFixed(2)} MiB in the last second`,
    );
    t.diagnostic(
      `RSS KiB before ${JSON.stringify(baseline)}, peak during ${JSON.stringify(peak)}; ` +
        `every 250 ms: server ${samples.map((s) => s.server).join(' ')}; client ${samples.map((s) => s.client).join(' ')}`,
    );
    // What the visitors could write is what the socket buffers along the path hold (loopback
    // buffers grow to megabytes): bounded, and then nothing more.
    const bound = pathBufferBound();
    assert.ok(
      each.every((n) => n < bound),
      `each visitor wrote less than the ${(bound / MiB).toFixed(0)} MiB its path's socket buffers may hold`,
    );
    assert.ok(written - writtenAt2s < 4 * MiB, 'the visitors are stalled, not trickling on');
    assert.ok(peak.server - baseline.server < 64 * 1024, 'server RSS grew by less than 64 MiB');
    assert.ok(peak.client - baseline.client < 64 * 1024, 'client RSS grew by less than 64 MiB');
  });

  test('visitors that reset while their target is stalled are released within 2 s: no visitor state on the server, no target connection in the client', async (t) => {
    if (stalledVisitors.length === 0) {
      stalledVisitors = await Promise.all(Array.from({ length: 4 }, () => dial(ports.stalled)));
      for (const v of stalledVisitors) stream(v);
      await sleep(1500);
    }
    const leftAt = performance.now();
    for (const v of stalledVisitors) v.resetAndDestroy();
    try {
      await nothingLeaks('stalled', ports.stalled, stalled.port, 2000);
    } finally {
      const m = await server.metrics();
      const held = (await client.tcpSockets()).filter((s) => s.remotePort === stalled.port).length;
      t.diagnostic(
        `${Math.round(performance.now() - leftAt)} ms after the visitors reset: visitor gauge ` +
          `${m.value('muon_visitor_connections_active')}, client connections to the target ${held}`,
      );
    }
  });

  test('a target that resets while its visitor is not reading: the server closes the visitor within 2 s', async (t) => {
    resetAt.length = 0;
    const visitor = await dial(ports.flooding);
    t.after(() => visitor.destroy());
    visitor.pause();
    await waitFor(() => resetAt.length === 1, 3000, 'the target to reset');
    const held = async () =>
      (await server.proc.tcpSockets()).filter((s) => s.localPort === ports.flooding && s.state !== 'LISTEN')
        .length;
    try {
      await waitFor(async () => (await held()) === 0, 2000, 'the server to close the visitor');
    } finally {
      t.diagnostic(
        `${Math.round(performance.now() - (resetAt[0] ?? 0))} ms after the reset: server sockets for the visitor ${await held()}`,
      );
    }
  });
});
