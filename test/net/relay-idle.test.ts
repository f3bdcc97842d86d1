// Specification of how a TCP session's relay ends a quiet session (the server's side), with a
// recording channel, an in-process local stream and a mocked clock: DISCONNECT
// MUON_ERR_IDLE_TIMEOUT when it may still send one, the channel dropped at once when its END
// already went (no DISCONNECT may follow an END), the local side destroyed either way; bytes
// moving keep the session, and empty DATA (a probe) does not.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, type TestContext, test } from 'node:test';
import type { FramedSocket } from '../../src/net/framed-socket.ts';
import { Relay } from '../../src/net/relay.ts';
import { CHECKS_PER_TIMEOUT } from '../../src/net/stream-idle-watch.ts';
import { streamPair } from '../../src/net/stream-pair.ts';
import type { Message } from '../../src/protocol/messages.ts';

const T = 400;
/** Past the latest moment a quiet session may be ended. */
const LATEST = T + T / CHECKS_PER_TIMEOUT + 1;

/** What the relay uses of a channel: frames sent, and a socket with pause state and queue length. */
class RecordingChannel {
  readonly socket = Object.assign(new EventEmitter(), {
    writableLength: 0,
    paused: false,
    pause() {
      this.paused = true;
    },
    resume() {
      this.paused = false;
    },
    isPaused() {
      return this.paused;
    },
  });
  readonly messages: Message[] = [];
  writable = true;

  send(msg: Message): boolean {
    this.messages.push(msg);
    return true;
  }

  sendData(_chunk: Buffer): boolean {
    return true;
  }
}

/** The code of the first message if it is a DISCONNECT. */
function disconnectCode(messages: Message[]): string | undefined {
  const first = messages[0];
  return first?.type === 'DISCONNECT' ? first.code : undefined;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup(t: TestContext, limits: { halfClosedMs: number; idleMs?: number }) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const channel = new RecordingChannel();
  const [local, far] = streamPair();
  far.on('error', () => {});
  far.resume();
  const done: boolean[] = [];
  const timeouts: string[] = [];
  const relay = new Relay(local, channel as unknown as FramedSocket, {
    describeFailure: () => ({ code: 'MUON_ERR_PEER_ERROR', message: 'visitor closed' }),
    onDone: (reusable) => done.push(reusable),
  });
  relay.start();
  relay.watchIdle(limits, () => timeouts.push('timed out'));
  const advance = (ms: number) => {
    for (let i = 0; i < ms; i++) t.mock.timers.tick(1);
  };
  return { channel, local, far, relay, done, timeouts, advance };
}

describe('a TCP session relay ending a quiet session', () => {
  test('quiet for tcpIdleTimeout: DISCONNECT MUON_ERR_IDLE_TIMEOUT, the local side destroyed, the answer leaves the channel reusable', (t) => {
    const { channel, local, relay, done, timeouts, advance } = setup(t, { halfClosedMs: 60_000, idleMs: T });
    advance(T - 1);
    assert.deepEqual(channel.messages, []);
    advance(LATEST - T);
    assert.deepEqual(timeouts, ['timed out'], 'the owner heard first (an HTTP stream notes why)');
    assert.equal(channel.messages.length, 1);
    assert.equal(disconnectCode(channel.messages), 'MUON_ERR_IDLE_TIMEOUT');
    assert.equal(local.destroyed, true);
    relay.disconnect({ code: 'MUON_ERR_IDLE_TIMEOUT', message: 'answer' });
    assert.deepEqual(done, [true]);
  });

  test('the peer half-closed (END received) and all went quiet: DISCONNECT after halfClosedTimeout', (t) => {
    const { channel, relay, done, advance } = setup(t, { halfClosedMs: T });
    advance(10 * T);
    assert.deepEqual(channel.messages, [], 'full-open and no idle timeout: kept');
    relay.end();
    advance(LATEST);
    assert.equal(disconnectCode(channel.messages), 'MUON_ERR_IDLE_TIMEOUT');
    assert.deepEqual(done, [true], 'our DISCONNECT completes the session: the END was the peer terminator');
  });

  test('our local side half-closed (END sent) and all went quiet: the channel is dropped at once, without a DISCONNECT', async (t) => {
    const { channel, local, far, done, advance } = setup(t, { halfClosedMs: T });
    far.end();
    await flush();
    assert.deepEqual(channel.messages, [{ type: 'END' }]);
    advance(LATEST);
    assert.deepEqual(channel.messages, [{ type: 'END' }], 'no DISCONNECT may follow our END');
    assert.deepEqual(done, [false]);
    assert.equal(local.destroyed, true);
  });

  test('bytes keep a half-closed session alive until they stop', async (t) => {
    const { channel, relay, far, done, advance } = setup(t, { halfClosedMs: T });
    relay.end(); // the peer half-closed; our local side goes on sending
    for (let i = 0; i < 10; i++) {
      advance(T / 2);
      far.write('x');
      await flush();
    }
    assert.deepEqual(channel.messages, []);
    advance(LATEST);
    assert.equal(disconnectCode(channel.messages), 'MUON_ERR_IDLE_TIMEOUT');
    assert.deepEqual(done, [true]);
  });

  test("the peer's empty DATA frames (its probes while paused) are not activity", (t) => {
    const { channel, relay, advance } = setup(t, { halfClosedMs: 60_000, idleMs: T });
    for (let i = 0; i < 5; i++) {
      advance(T / 4);
      relay.data(Buffer.alloc(0));
    }
    assert.equal(disconnectCode(channel.messages), 'MUON_ERR_IDLE_TIMEOUT');
  });

  test('traffic reports stay deltas while the watch reads running totals', (t) => {
    const { relay } = setup(t, { halfClosedMs: T, idleMs: T });
    relay.data(Buffer.alloc(10));
    assert.deepEqual(relay.takeBytes(), { fromLocal: 0, toLocal: 10 });
    relay.data(Buffer.alloc(5));
    assert.deepEqual(relay.takeBytes(), { fromLocal: 0, toLocal: 5 });
    assert.deepEqual(relay.takeBytes(), { fromLocal: 0, toLocal: 0 });
  });
});
