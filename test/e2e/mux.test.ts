// Multiplexed carriers: by default a client carries every visitor as a stream of one carrier
// connection, instead of one pooled proxy channel per visitor. Streams have their own credit
// windows, so one that stalls holds at most its window and never the carrier or the other
// streams; half-close and target failures end a stream, not the carrier; a carrier that drops
// closes the visitors it carried, and the client opens another.
//
// The client's pool says whether its carrier is open and how many streams it carries (`busy`);
// the server's counts streams as busy channels but says nothing of its carriers. So every client
// here reaches the server through a tap: a relay on loopback that counts the tunnel connections
// the client opens (the first is the command connection; with multiplexing the second is the
// carrier), and can cut one.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_WINDOW } from '../../src/net/mux-stream.ts';
import { STREAM_MAX_PAYLOAD } from '../../src/protocol/frame-types.ts';
import type { MappingRecord } from '../../src/server/directory.ts';
import {
  closedWithin,
  dial,
  echoedVisitor,
  echoServer,
  established,
  freePort,
  kernelBufferMax,
  listenLocal,
  readAll,
  readBytes,
  roundTrip,
  waitFor,
} from '../support/net.ts';
import { KEY, license, type Stack, startStack } from '../support/stack.ts';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One tunnel connection through the tap: the client's end and the server's end. */
interface Link {
  client: Socket;
  server: Socket;
  closed: boolean;
  /** Resets both halves, as a network fault between client and server would. */
  cut(): void;
}

interface Tap {
  port: number;
  /** Every tunnel connection the client opened, in order. */
  links: Link[];
  open(): Link[];
  close(): Promise<void>;
}

/** A relay in front of the server's tunnel port, counting and cutting the client's connections. */
async function tunnelTap(t: TestContext, serverPort: number): Promise<Tap> {
  const links: Link[] = [];
  const relay = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const server = connect({ host: '127.0.0.1', port: serverPort, allowHalfOpen: true, noDelay: true });
    const link: Link = {
      client,
      server,
      closed: false,
      cut() {
        // (Node 24 never exits once a socket that has been ended is reset: destroy those.)
        for (const s of [client, server]) {
          if (s.connecting || s.writableEnded) s.destroy();
          else if (!s.destroyed) s.resetAndDestroy();
        }
      },
    };
    links.push(link);
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      from.on('error', () => {});
      from.on('close', () => {
        link.closed = true;
        to.destroy();
      });
      from.pipe(to);
    }
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  let closed: Promise<void> | undefined;
  const tap: Tap = {
    port: (relay.address() as AddressInfo).port,
    links,
    open: () => links.filter((l) => !l.closed),
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const link of links) {
          link.client.destroy();
          link.server.destroy();
        }
        relay.close(() => resolve());
      });
      return closed;
    },
  };
  t.after(() => tap.close());
  return tap;
}

interface MuxStack {
  stack: Stack;
  tap: Tap;
  /** The server's channel counts for the session (streams count as busy channels). */
  serverStats(): { idle: number; busy: number; waiting: number };
  clientStats(): { total: number; idle: number; opening: number; carrier: boolean; busy: number };
}

/** A server with one license of `mappings`, and a client online through a tap, its carrier open. */
async function muxStack(
  t: TestContext,
  mappings: Array<Partial<MappingRecord> & { publicPort: number; targetPort: number }>,
  options: { tls?: boolean } = {},
): Promise<MuxStack> {
  const stack = await startStack(t, [license('lab', KEY, mappings)], { tls: options.tls === true });
  const tap = await tunnelTap(t, stack.tunnelPort);
  const client = await stack.onlineClient(KEY, { server: { host: '127.0.0.1', port: tap.port } });
  await waitFor(() => tap.open().length === 2, 3000, 'the command connection and the carrier');
  return {
    stack,
    tap,
    serverStats: () => {
      const { idle = -1, busy = -1, waiting = -1 } = stack.server.sessions[0]?.stats ?? {};
      return { idle, busy, waiting };
    },
    clientStats: () => {
      const stats = client.session?.pool.stats;
      const { total = -1, idle = -1, opening = -1, carrier = false, busy = -1 } = stats ?? {};
      return { total, idle, opening, carrier, busy };
    },
  };
}

/** Rejects if `promise` has not settled within `ms`. */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/**
 * Writes random 64 KiB chunks as fast as `socket` accepts them, hashing what it wrote, until
 * stopped; `stalled` resolves once no write has drained for 300 ms.
 */
function flood(socket: Socket) {
  const hash = createHash('sha256');
  let written = 0;
  let stopped = false;
  let lastDrain = performance.now();
  const pump = () => {
    lastDrain = performance.now();
    while (!stopped && !socket.destroyed) {
      const chunk = randomBytes(64 * 1024);
      hash.update(chunk);
      written += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
  };
  socket.on('error', () => {});
  pump();
  const stalled = (async () => {
    while (!stopped && performance.now() - lastDrain < 300) await sleep(50);
  })();
  return {
    written: () => written,
    digest: () => hash.digest('hex'),
    stalled,
    stop() {
      stopped = true;
    },
  };
}

/** Open descriptors of this process (server, client, targets and visitors all live here). */
const openFds = () => readdirSync('/proc/self/fd').length;

/**
 * Bytes queued in the kernel on both ends of the loopback connection between ports `a` and `b`
 * (send queue plus receive queue of each socket), read from /proc/self/net/tcp.
 */
async function kernelQueued(a: number, b: number): Promise<number> {
  const table = await readFile('/proc/self/net/tcp', 'utf8');
  let total = 0;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
    const remote = Number.parseInt(f[2]?.split(':')[1] ?? '', 16);
    if ((local === a && remote === b) || (local === b && remote === a)) {
      const [tx, rx] = (f[4] ?? '0:0').split(':').map((h) => Number.parseInt(h, 16));
      total += (tx ?? 0) + (rx ?? 0);
    }
  }
  return total;
}

for (const tls of [false, true]) {
  describe(`multiplexed carriers over a ${tls ? 'TLS' : 'plain'} tunnel`, { timeout: 30_000 }, () => {
    test('by default the client multiplexes: 200 concurrent visitors ride one carrier, with no descriptor of the tunnel per visitor', async (t) => {
      const echo = await echoServer();
      t.after(() => echo.close());
      const port = await freePort();
      const { tap, serverStats, clientStats } = await muxStack(
        t,
        [{ publicPort: port, targetPort: echo.port }],
        { tls },
      );
      assert.equal((await roundTrip(port, Buffer.from('warm-up'))).toString(), 'warm-up');
      await waitFor(() => serverStats().busy === 0, 2000, 'the warm-up stream to end');
      const before = openFds();

      const messages = Array.from({ length: 200 }, (_, i) => randomBytes(1024 + i * 61));
      const visitors = await bounded(
        Promise.all(messages.map((m) => echoedVisitor(port, m))),
        15_000,
        '200 echoes',
      );
      t.after(() => {
        for (const v of visitors) v.destroy();
      });
      const during = openFds();

      // Every visitor is a stream on the one carrier: the client opened two tunnel connections in
      // all (command and carrier), pools no channel, and the server holds 200 streams.
      assert.equal(tap.links.length, 2, 'tunnel connections opened: the command connection and one carrier');
      assert.equal(tap.open().length, 2);
      assert.deepEqual(clientStats(), { total: 0, idle: 0, opening: 0, carrier: true, busy: 200 });
      assert.deepEqual(serverStats(), { idle: 0, busy: 200, waiting: 0 });
      // Each visitor costs four descriptors in this process: its own socket, the server's end of
      // it, the client's target socket and the echo server's end of that. A pooled channel per
      // visitor would add two more (the client's and the server's end of the channel; four with
      // the tap in between).
      const perVisitor = (during - before) / visitors.length;
      t.diagnostic(`descriptors: ${before} before, ${during} with 200 visitors (${perVisitor} per visitor)`);
      assert.ok(during - before >= 4 * 200, `${during - before} new descriptors`);
      assert.ok(during - before <= 4 * 200 + 20, `${during - before} new descriptors for 200 visitors`);

      for (const v of visitors) v.destroy();
      await waitFor(() => serverStats().busy === 0, 3000, 'every stream to end on the server');
      await waitFor(() => clientStats().busy === 0, 3000, 'every stream to end on the client');
      await waitFor(() => echo.sockets.size === 0, 3000, 'the client to close every target socket');
      await waitFor(() => openFds() <= before + 4, 3000, 'the descriptors to return');
      assert.equal(tap.links.length, 2, 'still the one carrier');
    });

    test('head-of-line isolation: a stream whose target does not read holds only itself; others on the carrier echo promptly and move 8 MB byte-exact', async (t) => {
      const stalled = await listenLocal((socket) => socket.pause());
      const echo = await echoServer();
      t.after(() => Promise.all([stalled.close(), echo.close()]));
      const stalledPort = await freePort();
      const echoPort = await freePort();
      const { tap, serverStats, clientStats } = await muxStack(
        t,
        [
          { publicPort: stalledPort, targetPort: stalled.port },
          { publicPort: echoPort, targetPort: echo.port },
        ],
        { tls },
      );

      const stuck = await dial(stalledPort);
      t.after(() => stuck.destroy());
      const stuckFlood = flood(stuck);
      await bounded(stuckFlood.stalled, 10_000, 'the stuck visitor to be stopped by backpressure');
      const stuckWritten = stuckFlood.written();

      // Meanwhile: one visitor pings 20 times while another moves 8 MB each way.
      const pinger = await echoedVisitor(echoPort, Buffer.from('hello'));
      t.after(() => pinger.destroy());
      const payload = randomBytes(8 * MiB);
      const transfer = bounded(roundTrip(echoPort, payload), 15_000, 'the 8 MB transfer');
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const ping = Buffer.from(`ping ${i} `.padEnd(100, '.'));
        const sentAt = performance.now();
        const reply = readBytes(pinger, ping.length);
        pinger.write(ping);
        assert.equal((await bounded(reply, 3000, `ping ${i}`)).toString(), ping.toString());
        latencies.push(performance.now() - sentAt);
        await sleep(20);
      }
      const echoed = await transfer;
      const worst = Math.max(...latencies);
      t.diagnostic(
        `stuck visitor stopped after ${stuckWritten} bytes; ping latency during the transfer: ` +
          `median ${Math.round([...latencies].sort((a, b) => a - b)[10] ?? 0)} ms, worst ${Math.round(worst)} ms`,
      );
      assert.ok(worst < 1000, `a ping took ${Math.round(worst)} ms`);
      assert.equal(echoed.length, payload.length);
      assert.equal(sha(echoed), sha(payload));
      assert.equal(stuckFlood.written(), stuckWritten, 'the stuck visitor stays stopped');
      assert.equal(tap.links.length, 2, 'all of it on the one carrier');

      // The stuck visitor going away frees its stream on both sides, and the client lets go of the
      // stalled target (our paused end of it notices nothing: the client's end leaves ESTABLISHED).
      // It resets: a FIN would wait behind the bytes the server is not reading, as on any TCP path.
      stuckFlood.stop();
      stuck.resetAndDestroy();
      pinger.destroy();
      await waitFor(() => serverStats().busy === 0, 3000, 'every stream to end on the server');
      await waitFor(() => clientStats().busy === 0, 3000, 'every stream to end on the client');
      await waitFor(
        async () => (await established('remote', stalled.port)) === 0,
        3000,
        'the client to close the stalled target connection',
      );
      assert.equal(tap.open().length, 2, 'the carrier stays');
    });

    test('half-close over a stream: a request ended with FIN gets its full reply, and the stream is forgotten', async (t) => {
      // Replies once the request has ended: 1 MiB (four initial windows) and a summary, then FIN.
      const body = randomBytes(MiB);
      const target = await listenLocal((socket) => {
        const hash = createHash('sha256');
        let length = 0;
        socket.on('data', (c: Buffer) => {
          hash.update(c);
          length += c.length;
        });
        socket.on('end', () => {
          socket.write(body);
          socket.end(`got ${length} bytes ${hash.digest('hex')}`);
        });
      });
      t.after(() => target.close());
      const port = await freePort();
      const { tap, serverStats, clientStats } = await muxStack(
        t,
        [{ publicPort: port, targetPort: target.port }],
        { tls },
      );

      const request = randomBytes(300 * 1024);
      const reply = await bounded(roundTrip(port, request), 5000, 'the reply');
      assert.equal(sha(reply.subarray(0, body.length)), sha(body));
      assert.equal(reply.subarray(body.length).toString(), `got ${request.length} bytes ${sha(request)}`);
      // An empty request: FIN alone.
      const empty = await bounded(roundTrip(port, Buffer.alloc(0)), 5000, 'the reply to FIN alone');
      assert.equal(sha(empty.subarray(0, body.length)), sha(body));
      assert.equal(empty.subarray(body.length).toString(), `got 0 bytes ${sha(Buffer.alloc(0))}`);

      await waitFor(() => serverStats().busy === 0, 2000, 'the server to forget the streams');
      await waitFor(() => clientStats().busy === 0, 2000, 'the client to forget the streams');
      await waitFor(() => target.sockets.size === 0, 2000, 'the client to close the target sockets');
      assert.equal(tap.links.length, 2, 'the carrier carried both');
    });
  });
}

describe('multiplexed carriers', { timeout: 30_000 }, () => {
  test('a client with mux: false is served with pooled channels by the same server as a multiplexing one', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const muxPort = await freePort();
    const pooledPort = await freePort();
    const POOLED_KEY = 'pooled-license-key-0123456789abcdef';
    const stack = await startStack(t, [
      license('muxed', KEY, [{ publicPort: muxPort, targetPort: echo.port }]),
      license('pooled', POOLED_KEY, [{ publicPort: pooledPort, targetPort: echo.port }]),
    ]);
    const muxTap = await tunnelTap(t, stack.tunnelPort);
    const pooledTap = await tunnelTap(t, stack.tunnelPort);
    await stack.onlineClient(KEY, { server: { host: '127.0.0.1', port: muxTap.port } });
    const pooled = await stack.onlineClient(POOLED_KEY, {
      mux: false,
      server: { host: '127.0.0.1', port: pooledTap.port },
    });
    const sessionOf = (name: string) => stack.server.sessions.find((s) => s.license.id === name);

    const visitors = await bounded(
      Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          echoedVisitor(i % 2 === 0 ? muxPort : pooledPort, Buffer.from(`visitor ${i}`)),
        ),
      ),
      10_000,
      '40 echoes',
    );
    t.after(() => {
      for (const v of visitors) v.destroy();
    });

    // The pooled client carries each of its 20 visitors on a channel of its own.
    const stats = pooled.session?.pool.stats;
    assert.ok(stats && stats.total >= 20, `pooled channels: ${JSON.stringify(stats)}`);
    assert.equal(pooledTap.open().length, 1 + stats.total, 'the command connection and one per channel');
    assert.equal(sessionOf('pooled')?.stats.busy, 20);
    // The other client still rides its one carrier.
    assert.equal(muxTap.links.length, 2);
    assert.equal(stack.clients[0]?.session?.pool.stats.total, 0);
    assert.equal(sessionOf('muxed')?.stats.busy, 20);

    for (const v of visitors) v.destroy();
    await waitFor(() => sessionOf('pooled')?.stats.busy === 0, 3000, 'the pooled channels to be released');
    await waitFor(() => sessionOf('muxed')?.stats.busy === 0, 3000, 'the streams to end');
    // Pooled channels are reused, streams are not pooled.
    assert.ok((sessionOf('pooled')?.stats.idle ?? 0) >= 20, 'pooled channels return to the pool');
    assert.equal(sessionOf('muxed')?.stats.idle, 0);
    assert.equal((await roundTrip(pooledPort, Buffer.from('again'))).toString(), 'again');
    assert.equal(pooledTap.links.length, 1 + stats.total, 'no new channel for a later visitor');
  });

  test('backpressure per stream: a visitor writing into a target that does not read is stopped, and nothing is lost', async (t) => {
    let held: Socket | undefined;
    const target = await listenLocal((socket) => {
      socket.pause();
      held = socket;
    });
    t.after(() => target.close());
    const port = await freePort();
    await muxStack(t, [{ publicPort: port, targetPort: target.port }]);

    const visitor = await dial(port);
    t.after(() => visitor.destroy());
    const sink = flood(visitor);
    await sleep(1000);
    await bounded(sink.stalled, 5000, 'backpressure to stop the visitor');
    const early = sink.written();
    await sleep(500);
    const written = sink.written();
    sink.stop();
    const targetSocket = held as Socket;
    assert.ok(targetSocket, 'the visitor reached the target');

    // The stream itself holds at most its window, which grows from STREAM_WINDOW up to MAX_WINDOW
    // while the target's kernel buffers still take bytes, plus the one frame that may overdraw it.
    const streamBound = MAX_WINDOW + STREAM_MAX_PAYLOAD;
    // Bounded by the kernel: besides the stream, two TCP connections on the path (visitor–server,
    // client–target), each a send and a receive buffer autotuned up to the kernel's maxima, and
    // 1 MiB for the processes' own buffers.
    const bound =
      2 *
        (kernelBufferMax('/proc/sys/net/ipv4/tcp_rmem', 6 * MiB) +
          kernelBufferMax('/proc/sys/net/ipv4/tcp_wmem', 4 * MiB)) +
      streamBound +
      MiB;
    // Closer: what the tunnel holds is what was written less what waits in the kernel on those two
    // connections and in the visitor's and the target's Node buffers. Besides the stream, that is
    // the server's read buffer of the visitor, the write buffer of the client's target socket, and
    // a chunk waiting for credit: less than 512 KiB.
    const queued =
      (await kernelQueued(visitor.localPort as number, port)) +
      (await kernelQueued(targetSocket.remotePort as number, target.port));
    const inTunnel = written - visitor.writableLength - queued - targetSocket.readableLength;
    t.diagnostic(
      `visitor wrote ${written} bytes (kernel-derived bound ${bound}); ${queued} queued in the kernel, ` +
        `${inTunnel} held by the tunnel (stream bound ${streamBound})`,
    );
    assert.ok(written <= bound, `the visitor wrote ${written} bytes into a target that reads nothing`);
    assert.equal(written, early, 'the visitor stays stopped');
    assert.ok(
      inTunnel <= streamBound + 512 * 1024,
      `the tunnel holds ${inTunnel} bytes of one stream (bound ${streamBound} and buffers)`,
    );

    // The target reads again: every byte arrives, in order, then the visitor's FIN.
    const received = readAll(targetSocket);
    targetSocket.resume();
    visitor.end();
    const all = await bounded(received, 10_000, 'everything to reach the target');
    assert.equal(all.length, written);
    assert.equal(sha(all), sink.digest());
  });

  test('a dropped carrier closes the visitors it carried, and the client opens a new one: at once for a waiting visitor, shortly without', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const { stack, tap, serverStats, clientStats } = await muxStack(t, [
      { publicPort: port, targetPort: echo.port },
    ]);
    const session = stack.clients[0]?.session;
    const serverSession = stack.server.sessions[0];

    const visitors = await Promise.all(
      Array.from({ length: 5 }, (_, i) => echoedVisitor(port, Buffer.from(`visitor ${i}`))),
    );
    t.after(() => {
      for (const v of visitors) v.destroy();
    });
    assert.equal(serverStats().busy, 5);
    assert.equal(clientStats().busy, 5);

    const cutAt = performance.now();
    tap.links[1]?.cut();
    const closed = await Promise.all(visitors.map((v) => closedWithin(v, 2000)));
    const closedMs = performance.now() - cutAt;
    assert.deepEqual(closed, [true, true, true, true, true], 'every visitor of the carrier is closed');
    await waitFor(() => echo.sockets.size === 0, 2000, 'the client to close their target sockets');
    await waitFor(() => serverStats().busy === 0, 2000, 'the server to forget their streams');
    await waitFor(() => clientStats().busy === 0, 2000, 'the client to forget their streams');

    // A visitor arriving now waits for a carrier: the server asks for one, and it is served on it.
    const served = await bounded(echoedVisitor(port, Buffer.from('after the drop')), 2000, 'a new visitor');
    const servedMs = performance.now() - cutAt;
    served.destroy();
    assert.equal(tap.links.length, 3, 'one new carrier');
    assert.equal(clientStats().carrier, true);

    // Dropped again with no visitor waiting, the carrier is reopened by the client on its own.
    await waitFor(() => serverStats().busy === 0 && clientStats().busy === 0, 2000, 'the stream to end');
    const recutAt = performance.now();
    tap.links[2]?.cut();
    await waitFor(
      () => tap.links.length === 4 && clientStats().carrier,
      2000,
      'the client to reopen its carrier',
    );
    const reopenMs = performance.now() - recutAt;
    t.diagnostic(
      `visitors closed ${Math.round(closedMs)} ms after the cut, a waiting one served at ` +
        `${Math.round(servedMs)} ms; with none waiting, the carrier reopened in ${Math.round(reopenMs)} ms`,
    );
    assert.equal((await roundTrip(port, Buffer.from('and again'))).toString(), 'and again');
    assert.equal(tap.links.length, 4, 'served on the reopened carrier');
    assert.equal(tap.open().length, 2);
    assert.equal(tap.links[0]?.closed, false, 'the command connection stays');
    assert.equal(stack.clients[0]?.session, session, 'the session goes on');
    assert.equal(stack.server.sessions[0], serverSession);
  });

  test('an unreachable target closes its visitor promptly, and the carrier goes on serving others', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const deadPort = await freePort();
    const echoPort = await freePort();
    const { stack, tap, serverStats, clientStats } = await muxStack(t, [
      { publicPort: port, targetPort: deadPort },
      { publicPort: echoPort, targetPort: echo.port },
    ]);
    const steady = await echoedVisitor(echoPort, Buffer.from('before'));
    t.after(() => steady.destroy());

    const openedAt = performance.now();
    const visitors = await Promise.all(Array.from({ length: 10 }, () => dial(port)));
    t.after(() => {
      for (const v of visitors) v.destroy();
    });
    let received = 0;
    for (const v of visitors) {
      v.on('error', () => {});
      v.on('data', (c: Buffer) => {
        received += c.length;
      });
      v.write('hello?');
    }
    const closed = await Promise.all(visitors.map((v) => closedWithin(v, 2000)));
    const closedMs = performance.now() - openedAt;
    t.diagnostic(`10 visitors of an unreachable target closed within ${Math.round(closedMs)} ms`);
    assert.deepEqual(new Set(closed), new Set([true]), 'every visitor is closed within 2 s');
    assert.equal(received, 0);
    await waitFor(
      () => stack.serverLog.codes().filter((c) => c === 'MUON_ERR_TARGET_UNREACHABLE').length >= 10,
      2000,
      'the server to log 10 unreachable targets',
    );
    assert.ok(stack.clientLog.codes().includes('MUON_ERR_TARGET_UNREACHABLE'));
    await waitFor(() => serverStats().busy === 1, 2000, 'only the steady visitor left on the server');
    await waitFor(() => clientStats().busy === 1, 2000, 'only the steady visitor left on the client');

    // The visitor opened before still echoes on its stream, and new ones are served, on the same carrier.
    const reply = readBytes(steady, 5);
    steady.write('after');
    assert.equal((await bounded(reply, 2000, 'the steady echo')).toString(), 'after');
    assert.equal((await roundTrip(echoPort, Buffer.from('new'))).toString(), 'new');
    assert.equal(tap.links.length, 2, 'the carrier was never replaced');
  });
});
