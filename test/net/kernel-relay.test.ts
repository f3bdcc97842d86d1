// Specification of the kernel relay (src/net/kernel-relay.ts, native/kernel-relay.c): two
// connected sockets joined inside the kernel. A visitor talks to a target through one process
// that holds both ends (`front`, accepted from the visitor, and `back`, dialled to the target) and
// hands them to the relay, on real loopback sockets. Skipped only on a machine without a C
// compiler, where scripts/build-native.sh cannot build it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  KernelRelay,
  type KernelRelayEnd,
  type KernelRelayOptions,
  kernelRelayAvailable,
} from '../../src/net/kernel-relay.ts';
import { dial, listenLocal, readAll, type TestServer, waitFor } from '../support/net.ts';

function hasCompiler(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v cc || command -v gcc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip =
  !kernelRelayAvailable() && !hasCompiler() ? 'no C compiler: the kernel relay is not built' : false;

interface Joined {
  visitor: Socket;
  target: Socket;
  front: Socket;
  back: Socket;
  relay: KernelRelay;
  ended: Promise<KernelRelayEnd>;
}

describe('kernel relay', { skip, timeout: 30_000 }, () => {
  let entry: TestServer;
  let targets: TestServer;
  const accepted: Socket[] = [];
  const arrived: Socket[] = [];

  before(async () => {
    entry = await listenLocal((socket) => accepted.push(socket));
    targets = await listenLocal((socket) => arrived.push(socket));
  });

  after(async () => {
    await entry.close();
    await targets.close();
  });

  /** The accepted end of `socket`'s connection, once the server has it. */
  async function acceptedEnd(queue: Socket[], socket: Socket): Promise<Socket> {
    const mine = () => queue.findIndex((s) => s.remotePort === socket.localPort);
    await waitFor(() => mine() >= 0, 5000, 'the connection to be accepted');
    return queue.splice(mine(), 1)[0] as Socket;
  }

  /** visitor → front | kernel relay | back → target, all on loopback. */
  async function joined(options: KernelRelayOptions = {}): Promise<Joined> {
    const visitor = await dial(entry.port);
    const front = await acceptedEnd(accepted, visitor);
    const back = await dial(targets.port);
    const target = await acceptedEnd(arrived, back);
    let resolveEnd: (end: KernelRelayEnd) => void = () => {};
    const ended = new Promise<KernelRelayEnd>((resolve) => {
      resolveEnd = resolve;
    });
    const relay = new KernelRelay(front, back, resolveEnd, options);
    return { visitor, target, front, back, relay, ended };
  }

  test('the native module is built and loads', () => {
    assert.equal(kernelRelayAvailable(), true);
  });

  test('moves 8 MiB each way at once, byte for byte, and reports what it moved', async () => {
    const j = await joined();
    const up = randomBytes(8 * 1024 * 1024);
    const down = randomBytes(8 * 1024 * 1024);
    const atTarget = readAll(j.target);
    const atVisitor = readAll(j.visitor);
    j.visitor.end(up);
    j.target.end(down);
    assert.ok((await atTarget).equals(up));
    assert.ok((await atVisitor).equals(down));
    assert.deepEqual(await j.ended, { error: null, aToB: up.length, bToA: down.length });
    assert.deepEqual(j.relay.bytes(), [up.length, down.length]);
    await waitFor(() => j.front.destroyed && j.back.destroyed, 2000, 'both sockets destroyed');
    j.visitor.destroy();
    j.target.destroy();
  });

  test('forwards a half-close, says so, and keeps the other direction open until it ends too', async () => {
    const halves: string[] = [];
    const j = await joined({ onHalfClose: (direction) => halves.push(direction) });
    const request = readAll(j.target);
    j.visitor.end('request');
    assert.equal((await request).toString(), 'request'); // the target saw the end
    await waitFor(() => halves.length === 1, 2000, 'the half-close to be reported');
    assert.deepEqual(halves, ['aToB']);
    const reply = readAll(j.visitor);
    j.target.write('reply after your end');
    j.target.end();
    assert.equal((await reply).toString(), 'reply after your end');
    assert.equal((await j.ended).error, null);
    assert.deepEqual(halves, ['aToB', 'bToA']);
    j.visitor.destroy();
    j.target.destroy();
  });

  test('a reset on one side resets the other and ends the relay with the error', async () => {
    const j = await joined();
    const visitorClosed = new Promise((resolve) => j.visitor.once('close', resolve)); // once() would reject on 'error'
    const visitorError = new Promise<NodeJS.ErrnoException>((resolve) => j.visitor.once('error', resolve));
    j.visitor.write('something');
    await new Promise((r) => setTimeout(r, 50));
    j.target.resetAndDestroy();
    const end = await j.ended;
    assert.match(end.error ?? '', /^E[A-Z]+$/);
    assert.equal((await visitorError).code, 'ECONNRESET');
    await visitorClosed;
  });

  test('a reset while its direction waits for a target that does not read still ends the relay', async () => {
    const j = await joined();
    j.target.pause(); // the target reads nothing: visitor → target fills up and waits
    j.visitor.on('error', () => {});
    j.visitor.write(Buffer.alloc(32 * 1024 * 1024));
    await new Promise((r) => setTimeout(r, 200));
    j.visitor.resetAndDestroy();
    assert.equal((await j.ended).error, 'ECONNRESET');
    j.target.destroy();
  });

  test('close() ends the first socket with end of file and resets the second, ends with ABORTED once, and may be called again', async () => {
    const j = await joined();
    const visitorEnded = once(j.visitor, 'end');
    const targetReset = new Promise<string | undefined>((resolve) =>
      j.target.once('error', (e: NodeJS.ErrnoException) => resolve(e.code)),
    );
    j.visitor.resume();
    j.target.resume();
    j.relay.close();
    j.relay.close();
    assert.equal((await j.ended).error, 'ABORTED');
    await visitorEnded;
    assert.equal(await targetReset, 'ECONNRESET');
    j.relay.close(); // after the end as well
    j.visitor.destroy();
    j.target.destroy();
  });

  test('a target that does not read holds the visitor back, and everything arrives once it reads', async () => {
    const j = await joined();
    j.target.pause();
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let sent = 0; sent < total; sent += chunk.length) j.visitor.write(chunk);
    j.visitor.end();
    await new Promise((r) => setTimeout(r, 500));
    const [moved] = j.relay.bytes();
    assert.ok(moved < total, `moved ${moved} of ${total} while the target read nothing`);
    assert.ok(j.visitor.writableLength > 0, 'the rest waits in the visitor');
    let received = 0;
    j.target.on('data', (data: Buffer) => {
      received += data.length;
    });
    j.target.resume();
    await once(j.target, 'end');
    assert.equal(received, total);
    j.target.end();
    assert.deepEqual(await j.ended, { error: null, aToB: total, bToA: 0 });
    j.visitor.destroy();
    j.target.destroy();
  });

  test('refuses a socket that holds data JavaScript already read', async () => {
    const visitor = await dial(entry.port);
    const front = await acceptedEnd(accepted, visitor);
    front.pause();
    visitor.write('early');
    await waitFor(() => front.readableLength > 0, 2000, 'the bytes to be read into the stream');
    const back = await dial(targets.port);
    assert.throws(() => new KernelRelay(front, back, () => {}), /buffered data/);
    for (const socket of [visitor, front, back]) socket.destroy();
  });

  test('carries 100 pairs at once, each its own conversation, and leaves no descriptor behind', async () => {
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    const pairs = await Promise.all(Array.from({ length: 100 }, () => joined()));
    // Each pair: four sockets here, two duplicates and two pipes (four descriptors) in the relay.
    assert.ok(openFiles() >= before + 800, `${openFiles() - before} more descriptors with 100 pairs`);
    await Promise.all(
      pairs.map(async (j, i) => {
        j.target.pipe(j.target); // each target echoes
        const echoed = readAll(j.visitor);
        j.visitor.end(`visitor ${i}`);
        assert.equal((await echoed).toString(), `visitor ${i}`);
        assert.equal((await j.ended).error, null);
        j.visitor.destroy();
        j.target.destroy();
      }),
    );
    await waitFor(() => openFiles() <= before, 5000, 'every descriptor closed');
  });
});
