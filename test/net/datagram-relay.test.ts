// Specification of a UDP session's relay, with a recording channel and endpoint and mocked
// timers: one datagram per DATA frame both ways, expiry after the idle timeout (and not before,
// while datagrams flow), terminators answered, and nothing queued without bound: datagrams beyond
// a speed limit, a full channel or a full set-up queue are dropped.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatagramQueue } from '../../src/net/datagram-queue.ts';
import { type DatagramEndpoint, DatagramRelay, MAX_CHANNEL_BACKLOG } from '../../src/net/datagram-relay.ts';
import type { FramedSocket } from '../../src/net/framed-socket.ts';
import { RateLimit, Throttle } from '../../src/net/rate-limit.ts';
import { ABORT_ANSWER_MS, type LocalFailure } from '../../src/net/relay.ts';
import { MAX_DATAGRAM_SIZE } from '../../src/protocol/datagram-assembler.ts';
import type { Message } from '../../src/protocol/messages.ts';

/** What the relay writes to its proxy channel. */
class FakeChannel {
  readonly frames: Array<{ data: Buffer } | Message> = [];
  readonly socket = { writableLength: 0 };
  writable = true;

  send(msg: Message): boolean {
    this.frames.push(msg);
    return true;
  }

  sendData(chunk: Buffer): boolean {
    this.frames.push({ data: Buffer.from(chunk) });
    return true;
  }

  get data(): Buffer[] {
    return this.frames.flatMap((f) => ('data' in f ? [f.data] : []));
  }

  get messages(): Message[] {
    return this.frames.flatMap((f) => ('type' in f ? [f] : []));
  }
}

class FakeEndpoint implements DatagramEndpoint {
  readonly sent: Buffer[] = [];
  closed = false;
  deliver: (datagram: Buffer) => void = () => {};
  fail: (failure: LocalFailure) => void = () => {};

  start(onDatagram: (datagram: Buffer) => void, onClosed: (failure: LocalFailure) => void): void {
    this.deliver = onDatagram;
    this.fail = onClosed;
  }

  send(datagram: Buffer): void {
    this.sent.push(Buffer.from(datagram));
  }

  close(): void {
    this.closed = true;
  }
}

function setup(
  options: { idleTimeoutMs?: number; throttle?: { fromLocal: Throttle; toLocal: Throttle } } = {},
) {
  const channel = new FakeChannel();
  const endpoint = new FakeEndpoint();
  const done: boolean[] = [];
  const relay = new DatagramRelay(endpoint, channel as unknown as FramedSocket, {
    idleTimeoutMs: options.idleTimeoutMs ?? 1000,
    ...(options.throttle && { throttle: options.throttle }),
    onDone: (reusable) => done.push(reusable),
  });
  relay.start();
  return { channel, endpoint, relay, done };
}

describe('a UDP session relay', () => {
  test('sends each datagram from the local side as one DATA frame, and delivers each DATA frame as one datagram', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay } = setup();
    endpoint.deliver(Buffer.from('a'));
    endpoint.deliver(Buffer.alloc(0));
    endpoint.deliver(Buffer.alloc(1000, 1));
    assert.deepEqual(
      channel.data.map((d) => d.length),
      [1, 0, 1000],
    );
    relay.data(Buffer.from('he'), false);
    relay.data(Buffer.from('llo'), true);
    relay.data(Buffer.alloc(0), true);
    assert.deepEqual(endpoint.sent, [Buffer.from('hello'), Buffer.alloc(0)]);
    assert.deepEqual(relay.takeBytes(), { fromLocal: 1001, toLocal: 5 });
    relay.abort({ code: 'MUON_ERR_SHUTDOWN', message: 'test over' });
  });

  test('ends after the idle timeout without datagrams: DISCONNECT MUON_ERR_IDLE_TIMEOUT, local side closed', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay, done } = setup({ idleTimeoutMs: 1000 });
    t.mock.timers.tick(999);
    assert.equal(endpoint.closed, false, 'not a millisecond early');
    t.mock.timers.tick(1);
    assert.equal(endpoint.closed, true);
    assert.deepEqual(channel.messages, [
      { type: 'DISCONNECT', code: 'MUON_ERR_IDLE_TIMEOUT', message: 'no datagram either way for 1000 ms' },
    ]);
    assert.equal(relay.terminatorSent, true);
    assert.deepEqual(done, [], 'the channel is reused only once the peer answers');
    relay.disconnect({ code: 'MUON_ERR_IDLE_TIMEOUT', message: 'answer' });
    assert.deepEqual(done, [true]);
    assert.equal(channel.messages.length, 1, 'no second DISCONNECT');
  });

  test('an abort the peer never answers ends the session after ABORT_ANSWER_MS, the channel not reused', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, relay, done } = setup({ idleTimeoutMs: 1000 });
    relay.abort({ code: 'MUON_ERR_SHUTDOWN', message: 'mapping removed' });
    assert.equal(channel.messages[0]?.type, 'DISCONNECT');
    t.mock.timers.tick(ABORT_ANSWER_MS - 1);
    assert.deepEqual(done, [], 'waits for the answer until then');
    t.mock.timers.tick(1);
    assert.deepEqual(done, [false]);
    relay.disconnect({ code: 'MUON_ERR_SHUTDOWN', message: 'a late answer' });
    assert.deepEqual(done, [false], 'a late answer changes nothing');
  });

  test('datagrams in either direction keep the session alive', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { endpoint, relay } = setup({ idleTimeoutMs: 1000 });
    t.mock.timers.tick(600);
    endpoint.deliver(Buffer.from('query'));
    t.mock.timers.tick(600);
    assert.equal(endpoint.closed, false, 'a datagram from the local side at 600 ms');
    relay.data(Buffer.from('reply'), true);
    t.mock.timers.tick(999);
    assert.equal(endpoint.closed, false, 'a datagram from the peer at 1200 ms');
    t.mock.timers.tick(1);
    assert.equal(endpoint.closed, true, 'expired 1000 ms after the last datagram');
  });

  test('a DISCONNECT from the peer closes the local side and is answered once; the channel is reusable', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay, done } = setup();
    relay.disconnect({ code: 'MUON_ERR_SHUTDOWN', message: 'mapping removed' });
    assert.equal(endpoint.closed, true);
    assert.deepEqual(channel.messages, [
      { type: 'DISCONNECT', code: 'MUON_ERR_SHUTDOWN', message: 'mapping removed' },
    ]);
    assert.deepEqual(done, [true]);
    endpoint.deliver(Buffer.from('late'));
    assert.equal(channel.data.length, 0, 'nothing is sent after the terminator');
    t.mock.timers.tick(5000);
    assert.equal(channel.messages.length, 1, 'the idle timer stopped with the session');
  });

  test('an END from the peer ends the session (no half-close for UDP) and is answered with END', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay, done } = setup();
    relay.end();
    assert.equal(endpoint.closed, true);
    assert.deepEqual(channel.messages, [{ type: 'END' }]);
    assert.deepEqual(done, [true]);
  });

  test('a local failure (target unreachable) is reported in DISCONNECT', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint } = setup();
    endpoint.fail({ code: 'MUON_ERR_TARGET_UNREACHABLE', message: 'cannot reach UDP x:53: ENOTFOUND' });
    assert.deepEqual(channel.messages, [
      {
        type: 'DISCONNECT',
        code: 'MUON_ERR_TARGET_UNREACHABLE',
        message: 'cannot reach UDP x:53: ENOTFOUND',
      },
    ]);
  });

  test('a lost channel ends the session at once, not reusable', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { endpoint, relay, done } = setup();
    relay.channelLost();
    assert.equal(endpoint.closed, true);
    assert.deepEqual(done, [false]);
  });

  test('a DATA frame above the UDP maximum is a protocol error, thrown to the channel decoder', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { relay } = setup();
    relay.data(Buffer.alloc(MAX_DATAGRAM_SIZE), false);
    assert.throws(
      () => relay.data(Buffer.alloc(1), true),
      (error: Error & { code?: string }) => error.code === 'MUON_ERR_FRAME_TOO_LARGE',
    );
  });

  test('beyond a speed limit datagrams are dropped, not queued, in both directions', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    let now = 0;
    const upload = new RateLimit(1000, () => now); // a 100-byte burst, then 1000 B/s
    const download = new RateLimit(1000, () => now);
    const { channel, endpoint, relay } = setup({
      throttle: { fromLocal: new Throttle([upload]), toLocal: new Throttle([download]) },
    });
    for (let i = 0; i < 5; i++) endpoint.deliver(Buffer.alloc(60));
    assert.equal(channel.data.length, 2, 'the burst lets two through (the second into debt), the rest drop');
    for (let i = 0; i < 5; i++) relay.data(Buffer.alloc(60), true);
    assert.equal(endpoint.sent.length, 2);
    assert.equal(relay.dropped, 6);
    now += 1000; // a second later the debt is repaid: datagrams pass again
    endpoint.deliver(Buffer.alloc(60));
    relay.data(Buffer.alloc(60), true);
    assert.equal(channel.data.length, 3);
    assert.equal(endpoint.sent.length, 3);
    relay.abort({ code: 'MUON_ERR_SHUTDOWN', message: 'test over' });
  });

  test('a local datagram above 65,507 bytes (possible over IPv6) is dropped, not sent for the peer to refuse', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay } = setup();
    endpoint.deliver(Buffer.alloc(MAX_DATAGRAM_SIZE + 1));
    endpoint.deliver(Buffer.alloc(MAX_DATAGRAM_SIZE));
    assert.deepEqual(
      channel.data.map((d) => d.length),
      [MAX_DATAGRAM_SIZE],
    );
    assert.equal(relay.dropped, 1);
    relay.abort({ code: 'MUON_ERR_SHUTDOWN', message: 'test over' });
  });

  test('datagrams for a channel that cannot write fast enough are dropped beyond its backlog', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { channel, endpoint, relay } = setup();
    channel.socket.writableLength = MAX_CHANNEL_BACKLOG + 1;
    endpoint.deliver(Buffer.from('x'));
    assert.equal(channel.data.length, 0);
    channel.socket.writableLength = 0;
    endpoint.deliver(Buffer.from('y'));
    assert.equal(channel.data.length, 1);
    assert.equal(relay.dropped, 1);
    relay.abort({ code: 'MUON_ERR_SHUTDOWN', message: 'test over' });
  });
});

describe('the set-up queue', () => {
  test('keeps datagrams in order up to its count and byte bounds, and drops the rest', () => {
    const queue = new DatagramQueue(3, 100);
    assert.equal(queue.push(Buffer.alloc(40)), true);
    assert.equal(queue.push(Buffer.alloc(70)), false, 'would pass 100 bytes');
    assert.equal(queue.push(Buffer.alloc(60)), true);
    assert.equal(queue.push(Buffer.alloc(0)), true);
    assert.equal(queue.push(Buffer.alloc(0)), false, 'a fourth datagram');
    assert.equal(queue.dropped, 2);
    assert.deepEqual(
      queue.drain().map((d) => d.length),
      [40, 60, 0],
    );
    assert.equal(queue.bytes, 0);
    assert.equal(queue.push(Buffer.alloc(100)), true, 'room again once drained');
  });
});
