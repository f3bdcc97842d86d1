// Specification of how a multiplexed carrier shares itself between streams. Alone, a stream's
// receive window may grow to MAX_WINDOW; while another stream has delivered data within
// ACTIVE_MS, each may have at most SHARED_WINDOW in flight (windowCap), so what a bulk transfer
// has queued in front of another stream's messages stays small. Empty pieces (probes) and data
// for streams that are gone do not count as activity. Its socket yields the event loop only while
// two sessions of the process move data. The carrier runs on a real loopback socket, with a clock
// of the test's own.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { FramedSocket } from '../../src/net/framed-socket.ts';
import { MuxCarrier, SHARED_WINDOW } from '../../src/net/mux-carrier.ts';
import { YIELD_BYTES } from '../../src/net/read-yield.ts';
import { ACTIVE_MS, RecentActivity } from '../../src/net/recent-activity.ts';
import { streamDataHeader } from '../../src/protocol/messages.ts';
import { countPauses, listenLocal } from '../support/net.ts';

const UNCAPPED = Number.POSITIVE_INFINITY;
const x = Buffer.from('x');

/**
 * A carrier on one end of a loopback connection, with two streams open and a clock that moves only
 * when the test says so (tick); closed when the test ends.
 */
async function twoStreams(t: TestContext, sessions?: RecentActivity) {
  let now = 10_000;
  let accept: (socket: Socket) => void = () => {};
  const accepted = new Promise<Socket>((resolve) => {
    accept = resolve;
  });
  const server = await listenLocal((socket) => accept(socket));
  const socket = connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const framed = new FramedSocket(
    socket,
    { maxFrameSize: 64 * 1024, expectPreamble: false },
    { onMessage: () => {}, onData: () => {} },
    () => {},
  );
  const carrier = new MuxCarrier(framed, {
    onProtocolError: () => {},
    now: () => now,
    ...(sessions ? { sessions } : {}),
  });
  t.after(async () => {
    carrier.close();
    await server.close();
  });
  const tick = (ms: number) => {
    now += ms;
  };
  return {
    carrier,
    tick,
    first: carrier.openStream(),
    second: carrier.openStream(),
    /** The other end of the carrier's connection. */
    peer: await accepted,
  };
}

test('SHARED_WINDOW is 1 MiB and ACTIVE_MS one second, as docs/protocol.md says', () => {
  assert.equal(SHARED_WINDOW, 1024 * 1024);
  assert.equal(ACTIVE_MS, 1000);
});

test('a stream alone on its carrier is not capped; another stream is, while the first delivers data', async (t) => {
  const { carrier, first: one, second: two } = await twoStreams(t);
  assert.equal(carrier.windowCap(one.id), UNCAPPED, 'nothing delivered yet');
  carrier.onStreamData(one.id, x, true);
  assert.equal(carrier.windowCap(one.id), UNCAPPED, 'only its own data');
  assert.equal(carrier.windowCap(two.id), SHARED_WINDOW, 'stream one is moving data');
});

test('two streams delivering within ACTIVE_MS of each other are both capped, until one stays quiet that long', async (t) => {
  const { carrier, tick, first: bulk, second: chat } = await twoStreams(t);
  carrier.onStreamData(bulk.id, x, true);
  tick(500);
  carrier.onStreamData(chat.id, x, true);
  tick(200);
  carrier.onStreamData(bulk.id, x, true);
  assert.equal(carrier.windowCap(bulk.id), SHARED_WINDOW);
  assert.equal(carrier.windowCap(chat.id), SHARED_WINDOW);
  tick(ACTIVE_MS - 201);
  carrier.onStreamData(bulk.id, x, true);
  assert.equal(carrier.windowCap(bulk.id), SHARED_WINDOW, `the other delivered ${ACTIVE_MS - 1} ms ago`);
  tick(1);
  carrier.onStreamData(bulk.id, x, true);
  assert.equal(carrier.windowCap(bulk.id), UNCAPPED, `the other has been quiet for ${ACTIVE_MS} ms`);
});

test('empty pieces (probes) and data for a stream that is gone are not activity', async (t) => {
  const { carrier, first: bulk, second: paused } = await twoStreams(t);
  carrier.onStreamData(bulk.id, x, true);
  carrier.onStreamData(paused.id, Buffer.alloc(0), true);
  carrier.onStreamData(99, x, true);
  carrier.onStreamData(bulk.id, x, true);
  assert.equal(carrier.windowCap(bulk.id), UNCAPPED);
});

test("the carrier's socket yields the loop every YIELD_BYTES only while two sessions of the process move data", async (t) => {
  const sessions = new RecentActivity(() => 0);
  const { carrier, peer } = await twoStreams(t, sessions);
  const socket = carrier.framed.socket;
  const pauses = countPauses(socket);
  // DATA for a stream the carrier does not know is read and dropped: only the reading counts here.
  const payload = Buffer.alloc(YIELD_BYTES - 9); // a 9-byte header: frames of YIELD_BYTES
  const frame = Buffer.concat([streamDataHeader(99, payload.length), payload]);
  const readFrames = async (count: number) => {
    let left = count * frame.length;
    const read = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        left -= chunk.length;
        if (left > 0) return;
        socket.off('data', onData);
        resolve();
      };
      socket.on('data', onData);
    });
    for (let i = 0; i < count; i++) peer.write(frame);
    await read;
    await new Promise<void>((resolve) => setImmediate(resolve)); // the yield's turn
  };
  sessions.note('one session');
  await readFrames(2);
  assert.equal(pauses(), 0, 'one session moving data: nobody to yield to');
  sessions.note('another session');
  await readFrames(2);
  assert.ok(pauses() >= 1, 'two sessions moving data: it yields');
});
