// A reader that stops reading stops the writer at the other end of the tunnel: neither the
// server nor the client buffers without bound. Without backpressure a loopback sender would
// push gigabytes in the same time; here it stalls once the socket buffers along the path fill.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dial, freePort, listenLocal } from '../support/net.ts';
import { KEY, license, startStack } from '../support/stack.ts';

const CHUNK = Buffer.alloc(64 * 1024, 7);
const LIMIT = 64 * 1024 * 1024;

/** Writes as fast as `socket` accepts (honouring its own backpressure) until stopped. */
function flood(socket: Socket): { written: () => number; stop: () => void } {
  let written = 0;
  let stopped = false;
  const pump = () => {
    while (!stopped && written < 4 * LIMIT) {
      written += CHUNK.length;
      if (!socket.write(CHUNK)) return void socket.once('drain', pump);
    }
  };
  socket.on('error', () => {});
  pump();
  return {
    written: () => written,
    stop: () => {
      stopped = true;
    },
  };
}

describe('backpressure through the tunnel', () => {
  test('a visitor that does not read stalls the target that writes to it', async (t) => {
    let source: ReturnType<typeof flood> | undefined;
    const target = await listenLocal((socket) => {
      source = flood(socket);
    });
    t.after(() => target.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])]);
    await stack.onlineClient(KEY);

    const visitor = await dial(port);
    t.after(() => visitor.destroy());
    visitor.pause();
    await sleep(1000);
    const early = source?.written() ?? 0;
    await sleep(500);
    const late = source?.written() ?? 0;
    source?.stop();
    assert.ok(late < LIMIT, `target wrote ${late} bytes into a visitor that reads nothing`);
    assert.ok(late - early < 4 * 1024 * 1024, `target kept writing (${late - early} bytes in 0.5 s)`);

    // Once the visitor reads again, everything written arrives.
    let received = 0;
    visitor.on('data', (c: Buffer) => {
      received += c.length;
    });
    visitor.resume();
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (received >= late) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    assert.ok(received >= late);
  });

  test('a target that does not read stalls the visitor that writes to it', async (t) => {
    const target = await listenLocal((socket) => socket.pause());
    t.after(() => target.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])]);
    await stack.onlineClient(KEY);

    const visitor = await dial(port);
    t.after(() => visitor.destroy());
    const sink = flood(visitor);
    await sleep(1000);
    const early = sink.written();
    await sleep(500);
    const late = sink.written();
    sink.stop();
    assert.ok(late < LIMIT, `visitor wrote ${late} bytes into a target that reads nothing`);
    assert.ok(late - early < 4 * 1024 * 1024, `visitor kept writing (${late - early} bytes in 0.5 s)`);
  });
});
