// Specification of how a TCP session's relay ends an abort in bounded time, with a recording
// channel, an in-process local stream and mocked timers: an abort that the peer cannot read
// in-band (data queued ahead of it, or no answer in time) drops the channel instead of reusing
// it, and a channel paused for a local side that does not read is probed with empty DATA. And how
// a fast local side shares the event loop: it yields only while another session moves data.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import type { FramedSocket } from '../../src/net/framed-socket.ts';
import { YIELD_BYTES } from '../../src/net/read-yield.ts';
import { ACTIVE_MS, RecentActivity } from '../../src/net/recent-activity.ts';
import { ABORT_ANSWER_MS, PROBE_INTERVAL_MS, Relay } from '../../src/net/relay.ts';
import { streamPair } from '../../src/net/stream-pair.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { countPauses } from '../support/net.ts';

/** The channel's socket as the relay uses it: pause state, queued bytes, drain. */
class FakeSocket extends EventEmitter {
  writableLength = 0;
  paused = false;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  isPaused(): boolean {
    return this.paused;
  }
}

class FakeChannel {
  readonly socket = new FakeSocket();
  readonly frames: Array<{ data: Buffer } | Message> = [];
  writable = true;

  send(msg: Message): boolean {
    this.frames.push(msg);
    return true;
  }

  sendData(chunk: Buffer): boolean {
    this.frames.push({ data: Buffer.from(chunk) });
    return true;
  }

  get messages(): Message[] {
    return this.frames.flatMap((f) => ('type' in f ? [f] : []));
  }

  get data(): Buffer[] {
    return this.frames.flatMap((f) => ('data' in f ? [f.data] : []));
  }
}

function setup(sessions?: RecentActivity) {
  const channel = new FakeChannel();
  // `local` is the relay's local side; nobody reads `far`, so writes to `local` back up.
  const [local, far] = streamPair();
  far.on('error', () => {});
  const done: boolean[] = [];
  const relay = new Relay(local, channel as unknown as FramedSocket, {
    describeFailure: () => ({ code: 'MUON_ERR_PEER_ERROR', message: 'visitor closed' }),
    onDone: (reusable) => done.push(reusable),
    ...(sessions ? { sessions } : {}),
  });
  relay.start();
  return { channel, local, far, relay, done };
}

const FAILURE = { code: 'MUON_ERR_SHUTDOWN', message: 'mapping removed' } as const;

describe('a TCP session relay ending an abort', () => {
  test('an abort answered in time leaves the channel reusable', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { channel, relay, done } = setup();
    relay.abort(FAILURE);
    assert.deepEqual(channel.messages, [{ type: 'DISCONNECT', ...FAILURE }]);
    t.mock.timers.tick(ABORT_ANSWER_MS - 1);
    relay.disconnect({ code: 'MUON_ERR_SHUTDOWN', message: 'answer' });
    assert.deepEqual(done, [true]);
    t.mock.timers.tick(ABORT_ANSWER_MS);
    assert.deepEqual(done, [true], 'the bound was cleared with the session');
  });

  test('an abort the peer does not answer within ABORT_ANSWER_MS drops the channel', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { relay, local, done } = setup();
    relay.abort(FAILURE);
    t.mock.timers.tick(ABORT_ANSWER_MS - 1);
    assert.deepEqual(done, []);
    t.mock.timers.tick(1);
    assert.deepEqual(done, [false]);
    assert.equal(local.destroyed, true);
  });

  test('an abort behind data the peer has not taken drops the channel at once, without a DISCONNECT', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { channel, relay, done } = setup();
    channel.socket.writableLength = 64 * 1024;
    relay.abort(FAILURE);
    assert.deepEqual(done, [false]);
    assert.deepEqual(channel.messages, [], 'a DISCONNECT would only queue behind the data');
  });

  test("the peer's DISCONNECT answered behind queued data is not reused", (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { channel, relay, done } = setup();
    channel.socket.writableLength = 64 * 1024;
    relay.disconnect(FAILURE);
    assert.deepEqual(channel.messages, [{ type: 'DISCONNECT', ...FAILURE }]);
    assert.deepEqual(done, [false]);
  });

  test('a channel paused for a local side that does not read is probed with empty DATA, never after our terminator', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { channel, relay, far, done } = setup();
    relay.data(Buffer.alloc(64 * 1024));
    assert.equal(channel.socket.paused, true, 'backpressure pauses the channel');
    t.mock.timers.tick(PROBE_INTERVAL_MS - 1);
    assert.equal(channel.data.length, 0);
    t.mock.timers.tick(1);
    assert.deepEqual(channel.data, [Buffer.alloc(0)]);
    t.mock.timers.tick(PROBE_INTERVAL_MS);
    assert.equal(channel.data.length, 2, 'every interval while paused');
    channel.socket.writableLength = 10;
    t.mock.timers.tick(PROBE_INTERVAL_MS);
    assert.equal(channel.data.length, 2, 'not while a write is queued anyway');
    channel.socket.writableLength = 0;
    // The local side ends: END is our terminator, after which we send no DATA, probes included.
    far.end();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(channel.messages, [{ type: 'END' }]);
    t.mock.timers.tick(PROBE_INTERVAL_MS * 4);
    assert.equal(channel.data.length, 2);
    assert.deepEqual(done, []);
  });
});

describe("a session's fast local side and the event loop", () => {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  test('alone it reads on; while another session moves data it yields every YIELD_BYTES', async () => {
    let now = 0;
    const activity = new RecentActivity(() => now);
    const { local, far } = setup(activity);
    const pauses = countPauses(local);
    far.write(Buffer.alloc(YIELD_BYTES));
    far.write(Buffer.alloc(YIELD_BYTES));
    await nextTurn();
    assert.equal(pauses(), 0, 'no other session');
    activity.note('another session');
    far.write(Buffer.alloc(YIELD_BYTES));
    await nextTurn();
    assert.equal(pauses(), 1, 'the other session moved data just now');
    now += ACTIVE_MS;
    far.write(Buffer.alloc(YIELD_BYTES));
    await nextTurn();
    assert.equal(pauses(), 1, `the other session has been quiet for ${ACTIVE_MS} ms`);
  });

  test('data from the peer counts as moving data, empty pieces (probes) do not', () => {
    const activity = new RecentActivity(() => 0);
    const { relay } = setup(activity);
    relay.data(Buffer.alloc(0));
    assert.equal(activity.othersActive('another session'), false);
    relay.data(Buffer.from('x'));
    assert.equal(activity.othersActive('another session'), true);
  });
});
