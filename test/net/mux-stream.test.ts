// Specification of MuxStream, one session on a multiplexed carrier, against an in-memory carrier
// that records what the stream writes. Flow control is a credit window per direction: a sender
// writes while it has credit, in STREAM_DATA frames of at most STREAM_MAX_PAYLOAD (64 KiB) bytes;
// the frame that crosses the credit is sent whole, so it overdraws the credit by less than one
// frame (and a datagram, which fits in one frame, is never split). The rest waits in order, with
// messages behind it, until WINDOW grants more, and 'drain' follows once the queue is out and the
// credit is positive. So an honest sender never has more than window + STREAM_MAX_PAYLOAD bytes
// unacknowledged. A receiver grants the bytes back in quarters of the window as it hands them on,
// holds them without granting while paused, and reports MUON_ERR_FLOW_CONTROL beyond that bound.
// A stream ends by RESET (destroy, an aborted session, an ERROR), cleanly once its queue is out,
// or by being lost.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MuonError } from '../../src/errors.ts';
import { MuxStream, type StreamCarrier } from '../../src/net/mux-stream.ts';
import { STREAM_MAX_PAYLOAD } from '../../src/protocol/frame-types.ts';
import type { Message, StreamMessage } from '../../src/protocol/messages.ts';

type Written = { kind: 'message'; message: Message } | { kind: 'data'; streamId: number; chunk: Buffer };

/** A carrier that records what streams write to it. */
class MemoryCarrier implements StreamCarrier {
  writable = true;
  readonly written: Written[] = [];
  readonly forgotten: number[] = [];
  /** Every DATA payload ever written, in order (take() does not clear it). */
  readonly data: Buffer[] = [];

  writeMessage(message: Message): void {
    this.written.push({ kind: 'message', message });
  }

  writeData(streamId: number, chunk: Buffer): void {
    const copy = Buffer.from(chunk);
    this.written.push({ kind: 'data', streamId, chunk: copy });
    this.data.push(copy);
  }

  forget(streamId: number): void {
    this.forgotten.push(streamId);
  }

  /** Window growth the carrier still allows (unlimited unless a test sets it), and what is reserved. */
  growthLeft = Number.POSITIVE_INFINITY;
  reserved = 0;

  reserveGrowth(bytes: number): boolean {
    if (bytes > this.growthLeft) return false;
    this.growthLeft -= bytes;
    this.reserved += bytes;
    return true;
  }

  releaseGrowth(bytes: number): void {
    this.growthLeft += bytes;
    this.reserved -= bytes;
  }

  /** What a stream may have in flight towards us (the carrier's cap; a test lowers it). */
  cap = Number.POSITIVE_INFINITY;

  windowCap(): number {
    return this.cap;
  }

  /** What was written since the last call, in a short readable form. */
  take(): string[] {
    return this.written.splice(0).map(describe);
  }
}

function describe(w: Written): string {
  if (w.kind === 'data') return `data ${w.streamId} ${w.chunk.length}`;
  const m = w.message;
  switch (m.type) {
    case 'STREAM':
      return `STREAM ${m.streamId} ${m.message.type}`;
    case 'WINDOW':
      return `WINDOW ${m.streamId} +${m.increment}`;
    case 'RESET':
      return `RESET ${m.streamId} ${m.code} ${m.message}`;
    default:
      return m.type;
  }
}

const ID = 7;

function setup(window = 1000) {
  const carrier = new MemoryCarrier();
  const stream = new MuxStream(carrier, ID, window);
  const received = record(stream);
  const errors: MuonError[] = [];
  stream.setProtocolErrorHandler((error) => errors.push(error));
  let closes = 0;
  stream.on('close', () => closes++);
  let drains = 0;
  stream.on('drain', () => drains++);
  return {
    carrier,
    stream,
    received,
    errors,
    closes: () => closes,
    drains: () => drains,
  };
}

/** Sets a handler on `stream` that logs what it is handed: data as `data <text>`, messages by type. */
function record(stream: MuxStream): string[] {
  const log: string[] = [];
  stream.setHandler({
    onMessage: (msg) => log.push(msg.type),
    onData: (piece, frameEnd) => log.push(`data ${piece.toString()}${frameEnd ? '' : ' …'}`),
  });
  return log;
}

/** Delivers what `from` has written to `to`, as the peer's carrier would route it. */
function deliver(from: MemoryCarrier, to: MuxStream): void {
  for (const w of from.written.splice(0)) {
    if (w.kind === 'data') {
      to.deliverData(w.chunk, true);
      continue;
    }
    const m = w.message;
    if (m.type === 'STREAM') to.deliverMessage(m.message);
    else if (m.type === 'WINDOW') to.grant(m.increment);
    else if (m.type === 'RESET') to.lost();
    else assert.fail(`a stream wrote ${m.type} to its carrier`);
  }
}

/** Two streams back to back; pump() carries frames both ways until neither has anything to send. */
function linked(window: number) {
  const a = setup(window);
  const b = setup(window);
  const pump = () => {
    while (a.carrier.written.length > 0 || b.carrier.written.length > 0) {
      deliver(a.carrier, b.stream);
      deliver(b.carrier, a.stream);
    }
  };
  return { a, b, pump };
}

const text = (s: string) => Buffer.from(s);
const bytes = (n: number, fill = 0x61) => Buffer.alloc(n, fill);
/** `n` bytes that differ from their neighbours, so a reordering or a lost piece shows. */
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** The total length of some buffers. */
const sum = (buffers: readonly Buffer[]) => buffers.reduce((n, b) => n + b.length, 0);

// Sending

test('sendData within the credit is written at once and returns true', () => {
  const { carrier, stream } = setup(1000);
  assert.equal(stream.sendData(bytes(300)), true);
  assert.equal(stream.sendData(bytes(300)), true);
  assert.deepEqual(carrier.take(), [`data ${ID} 300`, `data ${ID} 300`]);
  assert.equal(stream.writableLength, 0);
});

test('send wraps a session message in STREAM with the stream id', () => {
  const { carrier, stream } = setup();
  const connected: StreamMessage = { type: 'CONNECTED' };
  assert.equal(stream.send(connected), true);
  assert.deepEqual(carrier.written, [
    { kind: 'message', message: { type: 'STREAM', streamId: ID, message: connected } },
  ]);
});

test('a write of at most one frame that crosses the credit is still sent whole but returns false', () => {
  const { carrier, stream } = setup(1000);
  assert.equal(stream.sendData(bytes(600)), true);
  assert.equal(stream.sendData(bytes(600)), false, 'the writer should wait for drain');
  assert.deepEqual(carrier.take(), [`data ${ID} 600`, `data ${ID} 600`]);
  assert.equal(stream.writableLength, 0);
});

test('writes beyond the credit wait in order, messages behind them, until WINDOW; then one drain', () => {
  const { carrier, stream, drains } = setup(1000);
  stream.sendData(bytes(1000));
  assert.deepEqual(carrier.take(), [`data ${ID} 1000`]);

  assert.equal(stream.sendData(text('one')), false);
  assert.equal(stream.sendData(text('three')), false);
  assert.equal(stream.send({ type: 'END' }), false, 'a message behind waiting data waits too');
  assert.deepEqual(carrier.take(), [], 'nothing goes out without credit');
  assert.equal(stream.writableLength, 8, 'queued DATA bytes count, messages do not');

  stream.grant(2);
  assert.deepEqual(carrier.take(), [`data ${ID} 3`], 'one frame may overdraw the credit, the next waits');
  assert.equal(stream.writableLength, 5);
  assert.equal(drains(), 0);

  stream.grant(500);
  assert.deepEqual(carrier.take(), [`data ${ID} 5`, `STREAM ${ID} END`]);
  assert.equal(stream.writableLength, 0);
  assert.equal(drains(), 1);

  stream.grant(500);
  assert.equal(drains(), 1, "'drain' is said once per wait");
});

test('no drain while the grant leaves the credit at or below zero', () => {
  const { carrier, stream, drains } = setup(1000);
  stream.sendData(bytes(1200));
  stream.sendData(bytes(10));
  stream.grant(200);
  assert.deepEqual(carrier.take(), [`data ${ID} 1200`]);
  assert.equal(stream.writableLength, 10);
  assert.equal(drains(), 0);
  stream.grant(1);
  assert.deepEqual(carrier.take(), [`data ${ID} 10`]);
  assert.equal(drains(), 0, 'the credit went below zero again');
  stream.grant(100);
  assert.equal(drains(), 1);
});

test('STREAM_MAX_PAYLOAD is 64 KiB, which holds the largest datagram (65,507 bytes)', () => {
  assert.equal(STREAM_MAX_PAYLOAD, 65_536);
  assert.ok(STREAM_MAX_PAYLOAD >= 65_507);
});

test('a chunk of 3 × STREAM_MAX_PAYLOAD + 5 bytes with ample credit leaves as 4 frames, in order', () => {
  const { carrier, stream, drains } = setup(1024 * 1024);
  const chunk = pattern(3 * STREAM_MAX_PAYLOAD + 5);
  assert.equal(stream.sendData(chunk), true);
  assert.deepEqual(carrier.take(), [
    `data ${ID} 65536`,
    `data ${ID} 65536`,
    `data ${ID} 65536`,
    `data ${ID} 5`,
  ]);
  assert.deepEqual(Buffer.concat(carrier.data), chunk);
  assert.equal(stream.writableLength, 0);
  assert.equal(drains(), 0);
});

test('a datagram of up to 65,507 bytes leaves as one frame even with one byte of credit', () => {
  const { carrier, stream } = setup(1000);
  stream.sendData(bytes(999));
  carrier.take();
  assert.equal(stream.sendData(bytes(65_507)), false, 'the writer should wait for drain');
  assert.deepEqual(carrier.take(), [`data ${ID} 65507`]);
  assert.equal(stream.writableLength, 0);
});

test('with credit 100, a 200,000-byte chunk sends one 65,536-byte frame and queues the rest', () => {
  const { carrier, stream, drains } = setup(100);
  const chunk = pattern(200_000);
  assert.equal(stream.sendData(chunk), false);
  assert.deepEqual(carrier.take(), [`data ${ID} 65536`], 'the frame that crosses the credit goes whole');
  assert.equal(stream.writableLength, 200_000 - 65_536);
  assert.equal(stream.send({ type: 'END' }), false, 'a message waits behind the rest');
  // The credit is now 100 − 65,536 = −65,436.

  stream.grant(65_436);
  assert.deepEqual(carrier.take(), [], 'a credit of 0 sends nothing');
  assert.equal(stream.writableLength, 134_464);

  stream.grant(1);
  assert.deepEqual(carrier.take(), [`data ${ID} 65536`], 'a credit of 1 sends one whole frame');
  assert.equal(stream.writableLength, 134_464 - 65_536);
  // The credit is now 1 − 65,536 = −65,535.

  stream.grant(2 * 65_536);
  assert.deepEqual(
    carrier.take(),
    [`data ${ID} 65536`, `data ${ID} 3392`, `STREAM ${ID} END`],
    'credit 65,537: a frame leaves it at 1, still positive, so the last 3,392 bytes go too, then END',
  );
  assert.equal(stream.writableLength, 0);
  assert.deepEqual(Buffer.concat(carrier.data), chunk, 'the frames carry the chunk in order');
  assert.equal(drains(), 0, 'the queue is out, but the credit is 1 − 3,392 = −3,391');

  stream.grant(3_391);
  assert.equal(drains(), 0, 'a credit of 0 is not enough for drain');
  stream.grant(1);
  assert.equal(drains(), 1);
  assert.deepEqual(carrier.take(), []);
});

test('an empty chunk (an empty datagram) is written even without credit', () => {
  const { carrier, stream } = setup(100);
  stream.sendData(bytes(100));
  carrier.take();
  assert.equal(stream.sendData(Buffer.alloc(0)), false);
  assert.deepEqual(carrier.take(), [`data ${ID} 0`]);
});

// Receiving

test('the receiver grants WINDOW only in quarters of the window, as it hands data on', () => {
  const { carrier, stream, received } = setup(1000);
  stream.deliverData(text('a'.repeat(100)), true);
  stream.deliverData(text('b'.repeat(100)), true);
  assert.deepEqual(carrier.take(), [], 'less than a quarter is not granted yet');
  stream.deliverData(text('c'.repeat(100)), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +300`]);
  stream.deliverData(text('d'.repeat(249)), true);
  assert.deepEqual(carrier.take(), []);
  stream.deliverData(text('e'), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +250`]);
  assert.equal(received.length, 5);
});

test('a receiver whose handler took a whole window without pausing doubles its window, granting the growth at once', () => {
  const { carrier, stream } = setup(1000);
  for (let i = 0; i < 3; i++) stream.deliverData(text('x'.repeat(250)), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +250`, `WINDOW ${ID} +250`, `WINDOW ${ID} +250`]);
  stream.deliverData(text('x'.repeat(250)), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +1250`], 'the last quarter, and 1000 more');
  assert.equal(carrier.reserved, 1000, 'the growth is reserved from the carrier');
  // Now a window of 2000: granted in quarters of 500, and doubled again after 2000 more.
  for (let i = 0; i < 3; i++) stream.deliverData(text('y'.repeat(500)), true);
  stream.deliverData(text('y'.repeat(500)), true);
  assert.deepEqual(carrier.take(), [
    `WINDOW ${ID} +500`,
    `WINDOW ${ID} +500`,
    `WINDOW ${ID} +500`,
    `WINDOW ${ID} +2500`,
  ]);
  assert.equal(carrier.reserved, 3000);
});

test('a stream whose local side pushes back (pauses it) before a whole window has gone does not grow', async () => {
  const { carrier, stream } = setup(1000);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) stream.deliverData(text('x'.repeat(250)), true);
    stream.pause();
    stream.resume();
  }
  await nextTurn();
  assert.ok(
    carrier.take().every((w) => w === `WINDOW ${ID} +250`),
    'only what was handed on is granted',
  );
  assert.equal(carrier.reserved, 0);
});

test("the carrier's budget caps growth: without budget the window stays as it is, and only what was handed on is granted", () => {
  const { carrier, stream } = setup(1000);
  carrier.growthLeft = 500; // less than the 1000 a doubling needs
  for (let i = 0; i < 4; i++) stream.deliverData(text('x'.repeat(250)), true);
  assert.deepEqual(carrier.take(), Array(4).fill(`WINDOW ${ID} +250`));
  assert.equal(carrier.reserved, 0);
});

test('a closed stream gives its growth back to the carrier', async () => {
  const { carrier, stream } = setup(1000);
  for (let i = 0; i < 4; i++) stream.deliverData(text('x'.repeat(250)), true);
  assert.equal(carrier.reserved, 1000);
  stream.destroy();
  assert.equal(carrier.reserved, 0);
  stream.destroy();
  assert.equal(carrier.reserved, 0, 'given back once');
});

test("under the carrier's cap, grants keep what the peer may have in flight within the cap; the rest follows once the cap lifts", () => {
  const { carrier, stream } = setup(1000);
  carrier.cap = 400;
  // The peer was granted 1000: nothing more until no more than 300 (3/4 of the cap) can be in flight.
  for (let i = 0; i < 6; i++) stream.deliverData(text('x'.repeat(100)), true);
  assert.deepEqual(carrier.take(), []);
  stream.deliverData(text('x'.repeat(100)), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +100`], 'back up to 400 in flight');
  stream.deliverData(text('x'.repeat(100)), true);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +100`]);
  carrier.cap = Number.POSITIVE_INFINITY;
  stream.deliverData(text('x'.repeat(100)), true);
  assert.deepEqual(
    carrier.take(),
    [`WINDOW ${ID} +700`],
    'all that was handed on and held back: 1000 in flight again',
  );
});

test("under the carrier's cap a window grows only up to the cap", () => {
  const { carrier, stream } = setup(100);
  carrier.cap = 200;
  for (let i = 0; i < 4; i++) stream.deliverData(text('x'.repeat(25)), true);
  assert.deepEqual(carrier.take(), [
    `WINDOW ${ID} +25`,
    `WINDOW ${ID} +25`,
    `WINDOW ${ID} +25`,
    `WINDOW ${ID} +125`,
  ]);
  for (let i = 0; i < 8; i++) stream.deliverData(text('y'.repeat(50)), true);
  assert.deepEqual(
    carrier.take(),
    Array(8).fill(`WINDOW ${ID} +50`),
    'a whole window of 200 went by, and no growth',
  );
  assert.equal(carrier.reserved, 100);
});

test('data and messages are handed on in the order they arrive, with frameEnd', () => {
  const { stream, received } = setup();
  stream.deliverMessage({ type: 'CONNECTED' });
  stream.deliverData(text('ab'), false);
  stream.deliverData(text('c'), true);
  stream.deliverMessage({ type: 'END' });
  assert.deepEqual(received, ['CONNECTED', 'data ab …', 'data c', 'END']);
});

test('while paused it holds what arrives and grants nothing; resume() hands it on in order, then grants', async () => {
  const { carrier, stream, received } = setup(1000);
  assert.equal(stream.pause(), stream);
  assert.equal(stream.isPaused(), true);
  stream.deliverData(text('x'.repeat(100)), true);
  stream.deliverData(text('y'.repeat(100)), false);
  stream.deliverData(text('z'.repeat(100)), true);
  stream.deliverMessage({ type: 'END' });
  assert.deepEqual(received, []);
  assert.deepEqual(carrier.take(), []);

  assert.equal(stream.resume(), stream);
  assert.equal(stream.isPaused(), false);
  assert.deepEqual(received, [], 'as a socket does, after resume() has returned');
  await nextTurn();
  assert.deepEqual(received, [
    `data ${'x'.repeat(100)}`,
    `data ${'y'.repeat(100)} …`,
    `data ${'z'.repeat(100)}`,
    'END',
  ]);
  assert.deepEqual(carrier.take(), [`WINDOW ${ID} +300`]);
});

test('what arrives between resume() and the delivery of held data waits behind it', async () => {
  const { stream, received } = setup();
  stream.pause();
  stream.deliverData(text('held'), true);
  stream.resume();
  stream.deliverData(text('after'), true);
  stream.deliverMessage({ type: 'END' });
  assert.deepEqual(received, []);
  await nextTurn();
  assert.deepEqual(received, ['data held', 'data after', 'END']);
  stream.deliverData(text('now'), true);
  assert.deepEqual(received.at(-1), 'data now', 'with nothing held, data is handed on at once');
});

test('resume() twice, or pause() right after it, hands each held piece on once, and only while resumed', async () => {
  const { stream, received } = setup();
  stream.pause();
  stream.deliverData(text('one'), true);
  stream.resume();
  stream.resume();
  await nextTurn();
  assert.deepEqual(received, ['data one']);
  stream.pause();
  stream.deliverData(text('two'), true);
  stream.resume();
  stream.pause();
  await nextTurn();
  assert.deepEqual(received, ['data one'], 'paused again before delivery');
  stream.resume();
  await nextTurn();
  assert.deepEqual(received, ['data one', 'data two']);
});

test('a handler that pauses during delivery stops it there until the next resume()', async () => {
  const { stream } = setup();
  const log: string[] = [];
  stream.setHandler({
    onMessage: (msg) => log.push(msg.type),
    onData: (piece) => {
      log.push(piece.toString());
      if (piece.toString() === 'two') stream.pause();
    },
  });
  stream.pause();
  for (const word of ['one', 'two', 'three']) stream.deliverData(text(word), true);
  stream.deliverMessage({ type: 'END' });
  stream.resume();
  await nextTurn();
  assert.deepEqual(log, ['one', 'two']);
  assert.equal(stream.isPaused(), true);
  stream.deliverData(text('four'), true);
  stream.resume();
  await nextTurn();
  assert.deepEqual(log, ['one', 'two', 'three', 'END', 'four']);
});

test('a peer sending more than window + STREAM_MAX_PAYLOAD to a paused stream is MUON_ERR_FLOW_CONTROL, not an exception', () => {
  const { stream, errors, received } = setup(1000);
  stream.pause();
  stream.deliverData(bytes(1000), true);
  stream.deliverData(bytes(STREAM_MAX_PAYLOAD), true);
  assert.equal(errors.length, 0, 'the window plus one whole overdrawing frame is allowed');
  assert.doesNotThrow(() => stream.deliverData(bytes(1), true));
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof MuonError);
  assert.equal(errors[0].code, 'MUON_ERR_FLOW_CONTROL');
  assert.match(errors[0].message, new RegExp(`stream ${ID}`));
  assert.deepEqual(received, []);
});

test('bytes handed on but not yet granted count against the window of a paused stream', () => {
  const { carrier, stream, errors } = setup(1000);
  stream.deliverData(bytes(200), true); // handed on, below a quarter: not granted back
  assert.deepEqual(carrier.take(), []);
  stream.pause();
  stream.deliverData(bytes(800), true);
  stream.deliverData(bytes(STREAM_MAX_PAYLOAD), true);
  assert.equal(errors.length, 0, '200 + 800 + 65,536 = window + STREAM_MAX_PAYLOAD');
  stream.deliverData(bytes(1), true);
  assert.equal(errors[0]?.code, 'MUON_ERR_FLOW_CONTROL');
});

test('a handler that throws a MuonError reports it to the protocol-error handler', () => {
  const { stream, errors } = setup();
  const bad = new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'CONNECTED twice');
  stream.setHandler({
    onMessage: () => {
      throw bad;
    },
    onData: () => {
      throw new MuonError('MUON_ERR_MALFORMED_FRAME', 'bad data');
    },
  });
  assert.doesNotThrow(() => stream.deliverMessage({ type: 'CONNECTED' }));
  assert.doesNotThrow(() => stream.deliverData(text('x'), true));
  assert.equal(errors[0], bad);
  assert.equal(errors[1]?.code, 'MUON_ERR_MALFORMED_FRAME');
});

test('a handler that throws anything else is reported as MUON_ERR_INTERNAL with the cause', async () => {
  const { stream, errors } = setup();
  const cause = new TypeError('oops');
  stream.setHandler({
    onMessage: () => {},
    onData: () => {
      throw cause;
    },
  });
  stream.pause();
  stream.deliverData(text('held'), true);
  stream.resume();
  await nextTurn();
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, 'MUON_ERR_INTERNAL');
  assert.equal(errors[0]?.cause, cause);
});

// Two streams back to back

for (const { total, chunkSize } of [
  { total: 20_000, chunkSize: 170 },
  { total: 1_000_000, chunkSize: 100_000 },
]) {
  test(`linked streams starting with window 1000 carry ${total} bytes written in chunks of ${chunkSize} in order, the sender waiting for drain`, () => {
    const { a, b, pump } = linked(1000);
    const source = pattern(total);
    const got: Buffer[] = [];
    b.stream.setHandler({
      onMessage: (msg) => got.push(text(`<${msg.type}>`)),
      onData: (piece) => got.push(piece),
    });
    let sent = 0;
    let waits = 0;
    const writeMore = () => {
      while (sent < total) {
        const chunk = source.subarray(sent, sent + chunkSize);
        sent += chunk.length;
        if (!a.stream.sendData(chunk)) {
          waits++;
          return;
        }
      }
      a.stream.send({ type: 'END' });
    };
    a.stream.on('drain', writeMore);
    writeMore();
    pump();
    assert.ok(Buffer.concat(got).equals(Buffer.concat([source, text('<END>')])), 'the bytes arrive in order');
    assert.ok(waits > 0, 'the sender had to wait');
    assert.equal(a.drains(), waits);
    assert.equal(a.stream.writableLength, 0);
    assert.ok(a.carrier.data.every((frame) => frame.length <= STREAM_MAX_PAYLOAD));
    assert.deepEqual(b.errors, []);
  });
}

test('an honest sender never trips the flow-control check of a paused receiver', async () => {
  const { a, b, pump } = linked(1000);
  b.stream.pause();
  // Writes as a relay would: until told to wait, then a few more.
  for (let i = 0; i < 20; i++) if (!a.stream.sendData(bytes(300))) break;
  for (let i = 0; i < 5; i++) a.stream.sendData(bytes(299)); // queued
  pump();
  assert.deepEqual(b.errors, []);
  assert.ok(a.stream.writableLength > 0, 'the rest waits for the receiver');
  b.stream.resume();
  await nextTurn();
  pump();
  assert.deepEqual(b.errors, []);
  assert.equal(a.stream.writableLength, 0);
  assert.equal(b.received.length, 4 + 5);
});

test('a 999-byte then a 300-byte write with window 1000 overdraws by 299 and does not trip a paused receiver', async () => {
  const { a, b, pump } = linked(1000);
  b.stream.pause();
  assert.equal(a.stream.sendData(bytes(999)), true, 'one byte of credit left');
  assert.equal(a.stream.sendData(bytes(300)), false, 'sent whole, overdrawing the credit');
  assert.equal(a.stream.sendData(bytes(300)), false, 'no credit: waits');
  assert.deepEqual(
    a.carrier.data.map((frame) => frame.length),
    [999, 300],
  );
  assert.equal(a.stream.writableLength, 300);
  pump();
  assert.deepEqual(b.errors, [], 'b holds 1,299 bytes, within window + STREAM_MAX_PAYLOAD');
  assert.equal(a.stream.writableLength, 300, 'a paused receiver grants nothing');
  b.stream.resume();
  await nextTurn();
  pump();
  assert.deepEqual(b.errors, []);
  assert.equal(a.stream.writableLength, 0);
  assert.equal(b.received.length, 3);
});

test('a 200,000-byte chunk with one byte of credit overdraws by one frame only and does not trip a paused receiver', async () => {
  const { a, b, pump } = linked(1000);
  let handedOn = 0;
  b.stream.setHandler({ onMessage: () => {}, onData: (piece) => (handedOn += piece.length) });
  b.stream.pause();
  a.stream.sendData(bytes(999));
  assert.equal(a.stream.sendData(pattern(200_000)), false);
  pump();
  assert.deepEqual(b.errors, []);
  assert.equal(sum(a.carrier.data), 999 + STREAM_MAX_PAYLOAD, 'window + STREAM_MAX_PAYLOAD − 1 in flight');
  assert.equal(a.stream.writableLength, 200_000 - STREAM_MAX_PAYLOAD);

  b.stream.resume();
  await nextTurn();
  pump();
  assert.deepEqual(b.errors, []);
  assert.equal(a.stream.writableLength, 0);
  assert.equal(handedOn, 200_999);
});

test('however an honest sender cuts its writes, a paused receiver holds at most window + STREAM_MAX_PAYLOAD − 1 and reports nothing', async () => {
  const sizes = [1, 250, 999, 1000, 1001, 65_507, 65_535, 65_536, 65_537, 200_000];
  for (const first of sizes) {
    for (const second of sizes) {
      const { a, b, pump } = linked(1000);
      b.stream.pause();
      // Writes as a relay would: while sendData says go on, then one more that waits.
      for (const size of [first, second, first, second]) if (!a.stream.sendData(bytes(size))) break;
      a.stream.sendData(bytes(second));
      pump();
      const label = `writes of ${first} and ${second}`;
      assert.deepEqual(b.errors, [], label);
      assert.ok(
        sum(a.carrier.data) <= 1000 + STREAM_MAX_PAYLOAD - 1,
        `${label}: ${sum(a.carrier.data)} in flight`,
      );
      assert.ok(
        a.carrier.data.every((frame) => frame.length <= STREAM_MAX_PAYLOAD),
        label,
      );
      b.stream.resume();
      await nextTurn();
      pump();
      assert.deepEqual(b.errors, [], label);
      assert.equal(a.stream.writableLength, 0, label);
    }
  }
});

// Lifetime

test("send({type:'ERROR'}) resets the stream with that code and closes it", async () => {
  const { carrier, stream, closes } = setup();
  assert.equal(
    stream.send({ type: 'ERROR', code: 'MUON_ERR_TARGET_UNREACHABLE', message: 'refused' }),
    false,
  );
  assert.deepEqual(carrier.take(), [`RESET ${ID} MUON_ERR_TARGET_UNREACHABLE refused`]);
  assert.equal(stream.destroyed, true);
  assert.equal(stream.writable, false);
  assert.deepEqual(carrier.forgotten, [ID]);
  await nextTurn();
  assert.equal(closes(), 1);
});

test("destroy() writes RESET once, forgets the stream, and 'close' follows once, after the current call", async () => {
  const { carrier, stream, closes } = setup();
  assert.equal(stream.destroy(), stream);
  assert.equal(stream.destroyed, true);
  assert.equal(stream.writable, false);
  assert.equal(closes(), 0, "'close' is not emitted inside destroy()");
  let lateCloses = 0;
  stream.on('close', () => lateCloses++);
  stream.destroy();
  stream.destroy();
  assert.deepEqual(carrier.take(), [`RESET ${ID} MUON_ERR_PEER_ERROR stream closed`]);
  assert.deepEqual(carrier.forgotten, [ID]);
  await nextTurn();
  assert.equal(closes(), 1);
  assert.equal(lateCloses, 1, 'a listener added right after destroy() still hears it');
});

test('a closed stream ignores what still arrives and writes nothing more', async () => {
  const { carrier, stream, received, drains } = setup(100);
  stream.sendData(bytes(100));
  stream.sendData(bytes(5));
  stream.destroy();
  carrier.take();
  assert.equal(stream.writableLength, 0, 'queued writes are dropped');
  stream.grant(1000);
  stream.deliverData(bytes(1000), true);
  stream.deliverMessage({ type: 'END' });
  stream.resume();
  assert.equal(stream.send({ type: 'END' }), false);
  assert.equal(stream.sendData(bytes(1)), false);
  assert.deepEqual(carrier.take(), []);
  assert.deepEqual(received, []);
  await nextTurn();
  assert.equal(drains(), 0);
});

test('held data is dropped, not handed on, when the stream closes before it is delivered', async () => {
  const { stream, received } = setup();
  stream.pause();
  stream.deliverData(text('held'), true);
  stream.resume();
  stream.lost();
  await nextTurn();
  assert.deepEqual(received, []);
});

test('release(true) with nothing queued closes without RESET', async () => {
  const { carrier, stream, closes } = setup();
  stream.sendData(text('last words'));
  stream.send({ type: 'END' });
  carrier.take();
  stream.release(true);
  assert.deepEqual(carrier.take(), []);
  assert.equal(stream.destroyed, true);
  assert.deepEqual(carrier.forgotten, [ID]);
  await nextTurn();
  assert.equal(closes(), 1);
});

test("release(true) with writes queued stays 'closing' until grants flush them, then forgets the stream", async () => {
  const { carrier, stream, received, closes } = setup(100);
  stream.sendData(bytes(120)); // 20 beyond the window
  stream.sendData(bytes(30));
  stream.send({ type: 'END' });
  carrier.take();

  stream.release(true);
  assert.equal(stream.destroyed, false, 'still closing');
  assert.equal(stream.writable, false, 'but takes no more writes');
  assert.equal(stream.send({ type: 'CONNECTED' }), false);
  assert.deepEqual(carrier.forgotten, []);
  stream.deliverData(text('late'), true);
  assert.deepEqual(received, [], 'the session is over: nothing more is handed on');
  await nextTurn();
  assert.equal(closes(), 0);

  stream.grant(20);
  assert.deepEqual(carrier.take(), [], 'still no credit');
  stream.grant(20);
  assert.deepEqual(carrier.take(), [`data ${ID} 30`, `STREAM ${ID} END`]);
  assert.equal(stream.destroyed, true);
  assert.deepEqual(carrier.forgotten, [ID]);
  await nextTurn();
  assert.equal(closes(), 1);
});

test('release(false) resets the stream, dropping what was queued', async () => {
  const { carrier, stream, closes } = setup(100);
  stream.sendData(bytes(100));
  stream.sendData(bytes(30));
  carrier.take();
  stream.release(false);
  assert.deepEqual(carrier.take(), [`RESET ${ID} MUON_ERR_PEER_ERROR session aborted`]);
  assert.deepEqual(carrier.forgotten, [ID]);
  stream.release(false);
  stream.release(true);
  assert.deepEqual(carrier.take(), [], 'a second release does nothing');
  await nextTurn();
  assert.equal(closes(), 1);
});

test('lost() (RESET from the peer, or the carrier gone) closes without writing anything', async () => {
  const { carrier, stream, closes } = setup(100);
  stream.sendData(bytes(100));
  stream.sendData(bytes(30));
  carrier.take();
  stream.lost();
  stream.lost();
  assert.deepEqual(carrier.take(), []);
  assert.equal(stream.destroyed, true);
  assert.deepEqual(carrier.forgotten, [ID]);
  stream.destroy();
  assert.deepEqual(carrier.take(), [], 'destroying a lost stream sends no RESET');
  await nextTurn();
  assert.equal(closes(), 1);
});

test('a RESET from one linked stream closes the other', async () => {
  const { a, b, pump } = linked(1000);
  a.stream.destroy();
  pump();
  assert.equal(b.stream.destroyed, true);
  assert.deepEqual(b.carrier.take(), [], 'the peer does not answer a RESET');
  await nextTurn();
  assert.equal(a.closes(), 1);
  assert.equal(b.closes(), 1);
});

test('nothing is written once the carrier is not writable', async () => {
  const { carrier, stream, received, closes } = setup(1000);
  carrier.writable = false;
  assert.equal(stream.writable, false);
  assert.equal(stream.sendData(text('lost')), false);
  assert.equal(stream.send({ type: 'END' }), false);
  stream.deliverData(bytes(600), true);
  assert.equal(received.length, 1, 'what arrives is still handed on');
  stream.release(false);
  stream.destroy();
  assert.deepEqual(carrier.written, []);
  assert.equal(stream.destroyed, true);
  await nextTurn();
  assert.equal(closes(), 1);
});

test('WINDOW arriving once the carrier is no longer writable writes nothing of what was queued, and no drain', () => {
  const { carrier, stream, drains } = setup(100);
  stream.sendData(bytes(100));
  stream.sendData(bytes(30));
  stream.send({ type: 'END' });
  carrier.take();
  carrier.writable = false;
  stream.grant(100);
  assert.deepEqual(carrier.written, []);
  assert.equal(stream.writableLength, 30, 'the queue is kept');
  assert.equal(drains(), 0);
});

test('release(true) on a carrier that is no longer writable closes at once, queue or not', async () => {
  const { carrier, stream, closes } = setup(100);
  stream.sendData(bytes(100));
  stream.sendData(bytes(30));
  carrier.take();
  carrier.writable = false;
  stream.release(true);
  assert.equal(stream.destroyed, true);
  assert.deepEqual(carrier.forgotten, [ID]);
  stream.grant(1000);
  assert.deepEqual(carrier.written, []);
  await nextTurn();
  assert.equal(closes(), 1);
});
