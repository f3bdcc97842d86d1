// The tunnel reports sessions, visitors and traffic to its observer: exact byte counts in both
// directions, live counts for long-lived connections, every opened visitor closed once.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { ErrorCode } from '../../src/errors.ts';
import type { TunnelObserver } from '../../src/server/observer.ts';
import { dial, freePort, listenLocal, readAll, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

class Recorder implements TunnelObserver {
  readonly events: string[] = [];
  bytesIn = 0;
  bytesOut = 0;
  opened = 0;
  closed = 0;
  readonly setupMs: number[] = [];
  readonly failures: ErrorCode[] = [];

  sessionOpened(l: { name: string }): void {
    this.events.push(`open ${l.name}`);
  }
  sessionClosed(l: { name: string }, code: ErrorCode): void {
    this.events.push(`close ${l.name} ${code}`);
  }
  handshakeFailed(code: ErrorCode): void {
    this.failures.push(code);
  }
  visitorOpened(): void {
    this.opened++;
  }
  visitorConnected(_m: unknown, ms: number): void {
    this.setupMs.push(ms);
  }
  visitorClosed(): void {
    this.closed++;
  }
  visitorRefused(): void {}
  traffic(_l: unknown, _m: unknown, bytesIn: number, bytesOut: number): void {
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
  }
}

/** Reads everything the visitor sends, then answers with `reply` bytes. */
async function replier(reply: number) {
  return listenLocal((socket) => {
    socket.resume();
    socket.on('end', () => socket.end(Buffer.alloc(reply, 1)));
  });
}

test('traffic is counted exactly in both directions, and every visitor is closed once', async (t) => {
  const target = await replier(2_000_000);
  t.after(() => target.close());
  const port = await freePort();
  const observer = new Recorder();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])], {
    server: { observer },
  });
  await stack.onlineClient(KEY);

  for (let i = 0; i < 5; i++) {
    const visitor = await dial(port);
    const reply = readAll(visitor);
    visitor.end(Buffer.alloc(1_000_000, 2));
    assert.equal((await reply).length, 2_000_000);
    visitor.destroy();
  }
  await waitFor(() => observer.closed === 5, 2000, 'five visitors closed');
  assert.equal(observer.opened, 5);
  assert.equal(observer.bytesIn, 5_000_000);
  assert.equal(observer.bytesOut, 10_000_000);
  assert.equal(observer.setupMs.length, 5);
  assert.ok(observer.setupMs.every((ms) => ms >= 0 && ms < 2000));
  assert.deepEqual(observer.events, ['open lab']);

  const bad = await RawPeer.connect(stack.tunnelPort);
  t.after(() => bad.destroy());
  await bad.authenticate('wrong-key-0123456789abcdefghij');
  assert.deepEqual(observer.failures, ['MUON_ERR_AUTH_FAILED']);
});

test('a long-lived connection is counted as it goes, once per heartbeat interval', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let received = 0;
  const target = await listenLocal((socket) =>
    socket.on('data', (c: Buffer) => {
      received += c.length;
    }),
  );
  t.after(() => target.close());
  const port = await freePort();
  const observer = new Recorder();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])], {
    server: { observer, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 60_000 },
  });
  const client = await stack.onlineClient(KEY);
  const visitor = await dial(port);
  t.after(() => visitor.destroy());
  visitor.write(Buffer.alloc(300_000));
  await waitFor(() => received === 300_000, 2000, 'the bytes to reach the target');

  t.mock.timers.tick(1000);
  assert.equal(observer.bytesIn, 300_000, 'counted while the visitor is still connected');
  assert.equal(observer.closed, 0);

  const offline = once(client, 'offline');
  await stack.server.close();
  await offline;
  assert.equal(observer.closed, 1);
  assert.equal(observer.bytesIn, 300_000, 'nothing counted twice');
  assert.equal(observer.events.at(-1), 'close lab MUON_ERR_SHUTDOWN');
});
