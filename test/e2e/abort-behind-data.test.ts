// An abort must end a session on both sides even when its DISCONNECT is stuck behind data the
// other side does not read (it paused the channel because its own local socket does not read).
// The aborting side drops the channel instead; the paused side finds out with its probe (an
// empty DATA frame written while paused; a paused visitor's reset is found by a zero-length
// write). Clean sessions keep their channel, and probes during a long stall change nothing.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NULL_OBSERVER, type TunnelObserver } from '../../src/server/observer.ts';
import { dial, echoServer, established, freePort, listenLocal, waitFor } from '../support/net.ts';
import { KEY, license, startStack } from '../support/stack.ts';

const CHUNK = Buffer.alloc(64 * 1024, 7);

/** Writes as fast as `socket` accepts until stopped; resolves `stalled` once no write has drained for 300 ms. */
function flood(socket: Socket): { stop: () => void; stalled: Promise<void> } {
  let stopped = false;
  let lastDrain = performance.now();
  const pump = () => {
    lastDrain = performance.now();
    while (!stopped) if (!socket.write(CHUNK)) return void socket.once('drain', pump);
  };
  socket.on('error', () => {});
  pump();
  const stalled = (async () => {
    while (!stopped && performance.now() - lastDrain < 300) await sleep(50);
  })();
  return {
    stop: () => {
      stopped = true;
    },
    stalled,
  };
}

/** Counts visitors the server still holds, with when the last one left. */
class VisitorGauge implements TunnelObserver {
  active = 0;
  lastClosedAt = 0;
  sessionOpened = NULL_OBSERVER.sessionOpened;
  sessionClosed = NULL_OBSERVER.sessionClosed;
  handshakeFailed = NULL_OBSERVER.handshakeFailed;
  visitorConnected = NULL_OBSERVER.visitorConnected;
  visitorRefused = NULL_OBSERVER.visitorRefused;
  traffic = NULL_OBSERVER.traffic;

  visitorOpened(): void {
    this.active++;
  }

  visitorClosed(): void {
    this.active--;
    this.lastClosedAt = performance.now();
  }
}

describe('aborts stuck behind unread data', { timeout: 20_000 }, () => {
  for (const tls of [false, true]) {
    const over = tls ? 'over TLS' : 'over plain TCP';

    test(`${over}: visitors that reset while their target does not read leave no session on either side within 2 s`, async (t) => {
      const target = await listenLocal((socket) => socket.pause());
      t.after(() => target.close());
      const port = await freePort();
      const gauge = new VisitorGauge();
      const stack = await startStack(
        t,
        [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])],
        {
          tls,
          server: { observer: gauge },
        },
      );
      await stack.onlineClient(KEY);

      const visitors = await Promise.all([dial(port), dial(port), dial(port)]);
      t.after(() => {
        for (const v of visitors) v.destroy();
      });
      const floods = visitors.map(flood);
      await Promise.all(floods.map((f) => f.stalled));
      assert.equal(await established('remote', target.port), 3, 'every visitor reached the target');
      assert.equal(gauge.active, 3);

      const resetAt = performance.now();
      for (const [i, v] of visitors.entries()) {
        floods[i]?.stop();
        v.resetAndDestroy();
      }
      await waitFor(
        async () => (await established('remote', target.port)) === 0,
        3000,
        'the client to close the target',
      );
      const targetMs = performance.now() - resetAt;
      await waitFor(() => gauge.active === 0, 3000, 'the server to let the visitors go');
      const serverMs = gauge.lastClosedAt - resetAt;
      t.diagnostic(
        `after the resets: server released the visitors in ${Math.round(serverMs)} ms, ` +
          `client closed the target connections within ${Math.round(targetMs)} ms`,
      );
      assert.ok(serverMs < 2000, `server side ended in ${serverMs} ms`);
      assert.ok(targetMs < 2000, `client side ended in ${targetMs} ms`);
      await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 1000, 'no busy channel left');
    });

    test(`${over}: a target that resets while its visitor does not read has the visitor closed within 2 s`, async (t) => {
      let resetAt = 0;
      const target = await listenLocal((socket) => {
        const f = flood(socket);
        void f.stalled.then(() => {
          f.stop();
          resetAt = performance.now();
          socket.resetAndDestroy();
        });
      });
      t.after(() => target.close());
      const port = await freePort();
      const stack = await startStack(
        t,
        [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])],
        {
          tls,
        },
      );
      await stack.onlineClient(KEY);

      const visitor = await dial(port);
      t.after(() => visitor.destroy());
      visitor.pause();
      await waitFor(() => resetAt > 0, 5000, 'the target to reset');
      // The server's side of the visitor's connection (on the public port) is what must close.
      await waitFor(
        async () => (await established('local', port)) === 0,
        3000,
        'the server to close the visitor',
      );
      const ms = performance.now() - resetAt;
      t.diagnostic(`the server closed the visitor within ${Math.round(ms)} ms of the target's reset`);
      assert.ok(ms < 2000, `closed ${ms} ms after the reset`);
      await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 1000, 'no busy channel left');
    });
  }

  test('a visitor that resets with nothing left in flight still hands its channel back for reuse', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
    const client = await stack.onlineClient(KEY, { minIdleChannels: 2, mux: false });
    for (let i = 0; i < 20; i++) {
      const visitor = await dial(port);
      visitor.on('error', () => {});
      const echoed = new Promise((resolve) => visitor.once('data', resolve));
      visitor.write(`hello ${i}`);
      await echoed;
      visitor.resetAndDestroy();
      await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 2000, 'the session to end');
    }
    const stats = client.session?.pool.stats;
    assert.ok(stats && stats.total <= 3, `20 aborted sessions made the pool grow to ${stats?.total}`);
  });

  test('a long stall both ways (probes meanwhile) changes nothing: 8 MiB echoed byte-exact, the channel reused', async (t) => {
    // Reads nothing for 1.5 s, then echoes everything and half-closes after the visitor does.
    const target = await listenLocal((socket) => {
      socket.pause();
      setTimeout(() => socket.pipe(socket), 1500);
    });
    t.after(() => target.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])]);
    const client = await stack.onlineClient(KEY, { minIdleChannels: 1, mux: false });

    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
    const visitor = await dial(port);
    t.after(() => visitor.destroy());
    visitor.pause(); // and it does not read either, at first
    visitor.end(payload);
    await sleep(2500);
    const received: Buffer[] = [];
    visitor.on('data', (c: Buffer) => received.push(c));
    visitor.resume();
    await new Promise((resolve) => visitor.once('end', resolve));
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(digest(Buffer.concat(received)), digest(payload));
    await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 2000, 'the session to end');
    // One channel carried the session, one more opened to keep one idle meanwhile; none replaced.
    await waitFor(() => client.session?.pool.stats.idle === 2, 2000, 'both channels idle');
    assert.equal(client.session?.pool.stats.total, 2, 'the channel was reused, not replaced');
  });
});
