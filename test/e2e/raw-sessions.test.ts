// Raw sessions end to end, on a plain tunnel (Features.RAW) and on a TLS one (Features.SEALED): a
// TCP visitor without speed limits is carried on a pooled channel of its own whose bytes, after
// CONNECTED, go through the kernel relay on both sides (sealed on TLS). Bytes arrive exactly and
// are counted, half-close and resets cross, the channel is used up (the pool opens another), and
// everything else (speed limits, a PROXY header, a client that does not offer it) keeps the
// JavaScript relay.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import type { TunnelClientOptions } from '../../src/client/options.ts';
import { RAW_CHANNELS_MAX, RAW_IDLE_MAX } from '../../src/client/proxy-pool.ts';
import { kernelRelayAvailable, sealedRelayAvailable } from '../../src/net/kernel-relay.ts';
import type { MappingRecord } from '../../src/server/directory.ts';
import { NULL_OBSERVER, type TunnelObserver } from '../../src/server/observer.ts';
import type { TunnelServerOptions } from '../../src/server/options.ts';
import {
  closedWithin,
  dial,
  echoedVisitor,
  echoServer,
  freePort,
  listenLocal,
  roundTrip,
  type TestServer,
  waitFor,
} from '../support/net.ts';
import { KEY, license, type Stack, startStack } from '../support/stack.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Lab {
  stack: Stack;
  port: number;
  target: TestServer;
}

async function lab(
  t: TestContext,
  target: TestServer,
  options: {
    client?: Partial<TunnelClientOptions>;
    server?: Partial<TunnelServerOptions>;
    tls?: boolean;
  } = {},
  mapping: Partial<MappingRecord> = {},
): Promise<Lab> {
  t.after(() => target.close());
  const port = await freePort();
  const stack = await startStack(
    t,
    [license('lab', KEY, [{ publicPort: port, targetPort: target.port, ...mapping }])],
    // Small sessions too: the tests here are about how raw sessions work, not whom they go to.
    { tls: options.tls ?? false, server: { rawSessionMinBytes: 0, ...options.server } },
  );
  const client = { raw: true, ...options.client };
  await stack.onlineClient(KEY, client);
  // Raw sessions ride pooled channels: until one is there, a visitor takes a carrier's stream.
  if (client.raw) {
    await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'a pooled channel');
  }
  return { stack, port, target };
}

const serverStats = (stack: Stack) => stack.server.sessions[0]?.stats;

/** Holds a visitor open until the server counts it as a raw session (or not), and says which. */
async function rawWhileOpen(stack: Stack, port: number): Promise<boolean> {
  const visitor = await dial(port);
  visitor.write('x');
  await new Promise<void>((resolve) => visitor.once('data', () => resolve())); // any answer: set up
  const raw = serverStats(stack)?.raw ?? -1;
  visitor.destroy();
  return raw === 1;
}

for (const tls of [false, true]) {
  const skip = tls
    ? !sealedRelayAvailable() && 'the kernel relay is not built, or cannot seal in this Node'
    : !kernelRelayAvailable() && 'the kernel relay is not built';
  describe(`raw sessions on a ${tls ? 'TLS tunnel (sealed)' : 'plain tunnel'}`, {
    skip,
    timeout: 30_000,
  }, () => {
    const at = (
      t: TestContext,
      target: TestServer,
      options: Parameters<typeof lab>[2] = {},
      mapping: Partial<MappingRecord> = {},
    ) => lab(t, target, { tls, ...options }, mapping);

    for (const mux of [true, false]) {
      test(`echo 8 MB byte-exact on each of 4 connections at once, as raw sessions (mux: ${mux})`, async (t) => {
        const { stack, port } = await at(t, await echoServer(), { client: { mux, minIdleChannels: 4 } });
        await waitFor(() => (serverStats(stack)?.idle ?? 0) >= 4, 5000, 'four pooled channels');
        const payloads = Array.from({ length: 4 }, () => randomBytes(8 * 1024 * 1024));
        const echoed = Promise.all(payloads.map((p) => roundTrip(port, p)));
        await waitFor(() => (serverStats(stack)?.raw ?? 0) > 0, 5000, 'raw sessions under way');
        for (const [i, result] of (await echoed).entries()) {
          assert.equal(sha(result), sha(payloads[i] as Buffer));
        }
        // Each raw session used its channel up; the client opens others to keep its minimum.
        await waitFor(() => serverStats(stack)?.raw === 0, 5000, 'the raw sessions to end');
        await waitFor(() => (serverStats(stack)?.idle ?? 0) >= 4, 5000, 'the pool refilled');
      });
    }

    test(`beside a carrier at most ${RAW_IDLE_MAX} channels wait and ${RAW_CHANNELS_MAX} carry raw sessions; more visitors ride the carrier`, async (t) => {
      const { stack, port } = await at(t, await echoServer(), { client: { minIdleChannels: 40 } });
      const visitors: Socket[] = [];
      t.after(() => {
        for (const v of visitors) v.destroy();
      });
      const echoedPing = async (): Promise<void> => {
        visitors.push(await echoedVisitor(port, Buffer.from('ping')));
      };
      // Batches of visitors that each find the idle channels refilled, until the cap holds them.
      while ((serverStats(stack)?.raw ?? 0) < RAW_CHANNELS_MAX) {
        await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'idle pooled channels');
        assert.ok((serverStats(stack)?.idle ?? 0) <= RAW_IDLE_MAX);
        await Promise.all(Array.from({ length: serverStats(stack)?.idle ?? 0 }, echoedPing));
      }
      await new Promise((r) => setTimeout(r, 300)); // past the refill wait: nothing comes
      assert.equal(serverStats(stack)?.idle, 0);
      await echoedPing();
      assert.deepEqual(
        { raw: serverStats(stack)?.raw, busy: serverStats(stack)?.busy },
        { raw: RAW_CHANNELS_MAX, busy: RAW_CHANNELS_MAX + 1 },
      );
    });

    test('the server carries at most limits.maxRawSessions raw sessions; the next visitor rides the carrier', async (t) => {
      const { stack, port } = await at(t, await echoServer(), { server: { maxRawSessions: 1 } });
      const first = await echoedVisitor(port, Buffer.from('visitor 0'));
      t.after(() => first.destroy());
      const second = await echoedVisitor(port, Buffer.from('visitor 1'));
      t.after(() => second.destroy());
      assert.deepEqual({ raw: serverStats(stack)?.raw, busy: serverStats(stack)?.busy }, { raw: 1, busy: 2 });
      first.destroy();
      await waitFor(() => serverStats(stack)?.raw === 0, 3000, 'the raw session to end');
      await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'the pool refilled');
      assert.equal(await rawWhileOpen(stack, port), true, 'the budget is free again');
    });

    test('a request ended with FIN gets its full reply; the target speaks first too', async (t) => {
      const { port, stack } = await at(
        t,
        await listenLocal((socket) => {
          socket.write('hello ');
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          socket.on('end', () => socket.end(`got ${Buffer.concat(chunks).length} bytes`));
        }),
      );
      assert.equal((await roundTrip(port, Buffer.alloc(100_000, 7))).toString(), 'hello got 100000 bytes');
      assert.equal((await roundTrip(port, Buffer.alloc(0))).toString(), 'hello got 0 bytes');
      // Used-up channels are replaced a little later (RAW_REFILL_MS): then the next visitor is raw too.
      await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'the pool refilled');
      assert.equal(await rawWhileOpen(stack, port), true);
    });

    test('traffic is counted exactly in both directions, and each visitor is closed once', async (t) => {
      const observed = { bytesIn: 0, bytesOut: 0, closed: 0 };
      const observer: TunnelObserver = {
        ...NULL_OBSERVER,
        traffic: (_l, _m, bytesIn, bytesOut) => {
          observed.bytesIn += bytesIn;
          observed.bytesOut += bytesOut;
        },
        visitorClosed: () => {
          observed.closed++;
        },
      };
      const target = await listenLocal((socket) => {
        socket.resume();
        socket.on('end', () => socket.end(Buffer.alloc(2_000_000, 1)));
      });
      const { port } = await at(t, target, { server: { observer } });
      for (let i = 0; i < 3; i++) {
        assert.equal((await roundTrip(port, Buffer.alloc(1_000_000, 2))).length, 2_000_000);
      }
      await waitFor(() => observed.closed === 3, 2000, 'three visitors closed');
      assert.deepEqual(observed, { bytesIn: 3_000_000, bytesOut: 6_000_000, closed: 3 });
    });

    test('a target that resets resets the visitor', async (t) => {
      const { port } = await at(
        t,
        await listenLocal((socket) => socket.once('data', () => socket.resetAndDestroy())),
      );
      const visitor = await dial(port);
      const failed = new Promise<string | undefined>((resolve) =>
        visitor.once('error', (e: NodeJS.ErrnoException) => resolve(e.code)),
      );
      visitor.write('anything');
      assert.equal(await failed, 'ECONNRESET');
    });

    test('an unreachable target closes its visitor promptly, is logged on both sides, and leaves no session behind', async (t) => {
      const dead = await listenLocal(() => {});
      const { port, stack } = await at(t, dead);
      await dead.close(); // nothing listens on the target port any more
      const visitor = await dial(port);
      visitor.on('error', () => {});
      assert.equal(await closedWithin(visitor, 3000), true);
      await waitFor(
        () => stack.serverLog.codes().includes('MUON_ERR_TARGET_UNREACHABLE'),
        2000,
        'the log line',
      );
      assert.ok(stack.clientLog.codes().includes('MUON_ERR_TARGET_UNREACHABLE'));
      assert.equal(serverStats(stack)?.raw, 0);
    });

    test('removing the mapping closes a raw session under way', async (t) => {
      const { port, stack } = await at(t, await echoServer());
      const visitor = await echoedVisitor(port, Buffer.from('x'));
      assert.equal(serverStats(stack)?.raw, 1);
      stack.directory.update(license('lab', KEY, []));
      assert.equal(await closedWithin(visitor, 3000), true);
      await waitFor(() => serverStats(stack)?.raw === 0, 3000, 'the raw session to end');
    });

    test('a client that closes: its raw sessions end, and their visitors are closed', async (t) => {
      const { port, stack } = await at(t, await echoServer());
      const visitor = await echoedVisitor(port, Buffer.from('x'));
      assert.equal(serverStats(stack)?.raw, 1);
      const client = stack.clients[0];
      assert.ok(client);
      await client.close();
      assert.equal(await closedWithin(visitor, 3000), true);
    });

    test('a raw session quiet for the idle timeout is ended', async (t) => {
      const { port } = await at(t, await echoServer(), { server: { tcpIdleTimeoutMs: 300 } });
      const visitor = await echoedVisitor(port, Buffer.from('x'));
      assert.equal(await closedWithin(visitor, 3000), true);
    });

    test('a raw session left half-closed is ended after the half-closed timeout', async (t) => {
      const { port } = await at(t, await listenLocal((socket) => socket.resume()), {
        server: { halfClosedTimeoutMs: 300 },
      });
      const visitor = await dial(port);
      visitor.end('bye'); // the target never answers nor ends
      assert.equal(await closedWithin(visitor, 3000), true);
    });

    test('raw sessions go to mappings whose sessions are big (limits.rawSessionMinBytes), and to a new one', async (t) => {
      const { stack, port } = await at(t, await echoServer(), { server: { rawSessionMinBytes: 500_000 } });
      const settled = async () => {
        await waitFor(() => serverStats(stack)?.busy === 0, 3000, 'the session to end');
        await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'the pool refilled');
      };
      assert.equal(await rawWhileOpen(stack, port), true, 'nothing known of the mapping yet');
      await settled();
      assert.equal(await rawWhileOpen(stack, port), false, 'its last session moved 2 bytes');
      await settled();
      const big = randomBytes(1_000_000);
      assert.equal(sha(await roundTrip(port, big)), sha(big)); // 2 MB: the average passes 500,000
      await settled();
      assert.equal(await rawWhileOpen(stack, port), true, 'its sessions are big again');
    });

    if (tls) {
      test('a sealed record changed on the way resets the session, logged as MUON_ERR_SEALED_RECORD', async (t) => {
        const target = await echoServer();
        t.after(() => target.close());
        const port = await freePort();
        const stack = await startStack(
          t,
          [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])],
          { tls: true, server: { rawSessionMinBytes: 0 } },
        );
        // The client reaches the server through a tap that can change the next chunk it forwards.
        let changeNext = false;
        const tap = await listenLocal((fromClient) => {
          const toServer = connect(stack.tunnelPort, '127.0.0.1');
          toServer.on('error', () => {});
          toServer.on('data', (chunk: Buffer) => {
            if (!changeNext) {
              fromClient.write(chunk);
              return;
            }
            changeNext = false;
            const changed = Buffer.from(chunk);
            changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
            fromClient.write(changed);
          });
          fromClient.pipe(toServer);
          fromClient.on('close', () => toServer.destroy());
          toServer.on('close', () => fromClient.destroy());
        });
        t.after(() => tap.close());
        await stack.onlineClient(KEY, { raw: true, server: { host: '127.0.0.1', port: tap.port } });
        await waitFor(() => (serverStats(stack)?.idle ?? 0) > 0, 5000, 'a pooled channel');
        const visitor = await echoedVisitor(port, Buffer.from('x'));
        visitor.on('error', () => {});
        assert.equal(serverStats(stack)?.raw, 1);
        changeNext = true;
        visitor.write('y'); // sealed by the server, changed by the tap, refused by the client
        assert.equal(await closedWithin(visitor, 3000), true);
        await waitFor(() => stack.clientLog.codes().includes('MUON_ERR_SEALED_RECORD'), 3000, 'the log line');
      });
    }

    test('the JavaScript relay carries what the kernel relay cannot: speed limits, a PROXY header, a client without raw', async (t) => {
      const limited = await at(t, await echoServer(), {}, { downloadLimit: 10_000_000 });
      assert.equal(await rawWhileOpen(limited.stack, limited.port), false, 'a mapping with a speed limit');
      const header = await at(t, await echoServer(), {}, { proxyProtocol: 'v1' });
      assert.equal(await rawWhileOpen(header.stack, header.port), false, 'a mapping with a PROXY header');
      const off = await at(t, await echoServer(), { client: { raw: false } });
      assert.equal(await rawWhileOpen(off.stack, off.port), false, 'a client with raw: false');
      const on = await at(t, await echoServer());
      assert.equal(await rawWhileOpen(on.stack, on.port), true, 'and the same mapping otherwise');
    });
  });
}
