// The in-process stream pair behaves like the two ends of a socket: bytes cross in order, a full
// reader holds the writer back, end() is a half-close, a clean finish loses nothing the slower
// end still holds, and destroying one end mid-stream closes the other.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { streamPair } from '../../src/net/stream-pair.ts';

test('bytes cross in order both ways, and end() half-closes one direction only', async () => {
  const [a, b] = streamPair();
  const fromA: Buffer[] = [];
  b.on('data', (c: Buffer) => fromA.push(c));
  a.write('one ');
  a.end('two');
  await once(b, 'end');
  assert.equal(Buffer.concat(fromA).toString(), 'one two');
  const fromB: Buffer[] = [];
  a.on('data', (c: Buffer) => fromB.push(c));
  b.end('still flowing back');
  await Promise.all([once(a, 'close'), once(b, 'close')]);
  assert.equal(Buffer.concat(fromB).toString(), 'still flowing back');
});

test('a reader that does not read holds the writer back until it does', async () => {
  const [a, b] = streamPair();
  const piece = Buffer.alloc(16 * 1024, 7);
  let accepted = 0;
  while (a.write(piece)) accepted++;
  assert.ok(accepted < 16, `the writer was told to wait after ${accepted} pieces`);
  let drained = false;
  a.once('drain', () => {
    drained = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(drained, false, 'no drain while nobody reads');
  let total = 0;
  b.on('data', (c: Buffer) => {
    total += c.length;
  });
  await once(a, 'drain');
  assert.equal(total, (accepted + 1) * piece.length);
});

test('a clean finish leaves what the slower end holds readable', async () => {
  const [a, b] = streamPair();
  b.end();
  a.resume();
  a.end(Buffer.alloc(1000, 1));
  await once(a, 'close');
  const chunks: Buffer[] = [];
  b.on('data', (c: Buffer) => chunks.push(c));
  await once(b, 'end');
  assert.equal(Buffer.concat(chunks).length, 1000);
});

test('destroying one end mid-stream closes the other', async () => {
  const [a, b] = streamPair();
  a.write('partial');
  a.destroy();
  await once(b, 'close');
  assert.equal(b.destroyed, true);
  b.on('error', () => {});
  const [c, d] = streamPair();
  d.destroy();
  await once(c, 'close');
  assert.equal(c.destroyed, true);
});
