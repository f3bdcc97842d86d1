// Specification of ReadYield: a reader that has delivered YIELD_BYTES pauses its socket for one
// turn of the event loop, then resumes it, unless backpressure or a speed limit holds it then;
// while nothing else waits for the loop it reads on without yielding.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadYield, YIELD_BYTES } from '../../src/net/read-yield.ts';

/** Records pause() and resume() calls. */
class Source {
  readonly calls: string[] = [];
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('below YIELD_BYTES nothing is paused', async () => {
  const source = new Source();
  const reads = new ReadYield(source);
  reads.read(YIELD_BYTES - 1);
  await nextTurn();
  assert.deepEqual(source.calls, []);
  assert.equal(reads.yielding, false);
});

test('at YIELD_BYTES the source pauses once and resumes on the next turn of the loop', async () => {
  const source = new Source();
  const reads = new ReadYield(source);
  reads.read(YIELD_BYTES / 2);
  reads.read(YIELD_BYTES / 2);
  reads.read(64 * 1024); // already yielding: no second pause
  assert.deepEqual(source.calls, ['pause']);
  assert.equal(reads.yielding, true);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause', 'resume']);
  assert.equal(reads.yielding, false);
});

test('the count starts again after a yield', async () => {
  const source = new Source();
  const reads = new ReadYield(source);
  reads.read(YIELD_BYTES);
  await nextTurn();
  reads.read(YIELD_BYTES - 1);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause', 'resume']);
  reads.read(1);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause', 'resume', 'pause', 'resume']);
});

test('a source held elsewhere when the turn comes (backpressure, a speed limit) stays paused', async () => {
  const source = new Source();
  let held = true;
  const reads = new ReadYield(source, { heldElsewhere: () => held });
  reads.read(YIELD_BYTES);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause'], 'its holder resumes it, not the yield');
  assert.equal(reads.yielding, false, 'so that holder may resume it now');
  held = false;
  reads.read(YIELD_BYTES);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause', 'pause', 'resume']);
});

test('after stop() a pending yield resumes nothing, and no new one starts', async () => {
  const source = new Source();
  const reads = new ReadYield(source);
  reads.read(YIELD_BYTES);
  reads.stop();
  await nextTurn();
  reads.read(2 * YIELD_BYTES);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause']);
});

test('while nothing else waits for the loop the reader does not yield, and yields again once it does', async () => {
  const source = new Source();
  let othersWaiting = false;
  const reads = new ReadYield(source, { othersWaiting: () => othersWaiting });
  reads.read(YIELD_BYTES);
  reads.read(YIELD_BYTES);
  await nextTurn();
  assert.deepEqual(source.calls, []);
  assert.equal(reads.yielding, false);
  othersWaiting = true;
  reads.read(YIELD_BYTES);
  assert.deepEqual(source.calls, ['pause']);
  await nextTurn();
  assert.deepEqual(source.calls, ['pause', 'resume']);
});
