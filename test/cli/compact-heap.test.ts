// Giving memory back (src/cli/compact-heap.ts): compactHeap() collects and shrinks the heap;
// IdleCompactor calls it when a quiet process's heap has grown since the last time.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { getHeapSpaceStatistics } from 'node:v8';
import { compactHeap, type HeapProbe, IdleCompactor } from '../../src/cli/compact-heap.ts';

const MB = 1024 * 1024;
const newSpace = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

describe('compactHeap', () => {
  test('shrinks a young generation that start-up garbage has grown', () => {
    let garbage: unknown[] = [];
    for (let i = 0; i < 300_000; i++) garbage.push({ i, text: `item ${i}` });
    garbage = [];
    const grown = newSpace();
    compactHeap();
    assert.ok(newSpace() < grown, `${newSpace()} bytes after, ${grown} before`);
  });

  test('can run again, and gives the main context no global gc()', () => {
    compactHeap();
    compactHeap();
    assert.equal('gc' in globalThis, false);
  });
});

/** A process whose busy share and heap size the test sets; compact() drops the heap to `live`. */
class FakeProcess implements HeapProbe {
  load = 0;
  heap = 10 * MB;
  live = 10 * MB;
  compactions = 0;
  busy(): number {
    return this.load;
  }
  heapBytes(): number {
    return this.heap;
  }
  compact(): void {
    this.compactions++;
    this.heap = this.live;
  }
}

describe('IdleCompactor', () => {
  /** A compactor looking at a fake process every 500 ms (mocked timers), closed after the test. */
  const start = (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const proc = new FakeProcess();
    const compactor = new IdleCompactor({
      intervalMs: 500,
      quietBelow: 0.02,
      growthBytes: 4 * MB,
      probe: proc,
    });
    t.after(() => compactor.close());
    return { proc, compactor };
  };

  test('compacts once a grown heap has been quiet for an interval, then not again', (t) => {
    const { proc } = start(t);
    proc.heap += 20 * MB; // a burst of visitors
    proc.live += 2 * MB; // of which this much stays
    proc.load = 0.6;
    t.mock.timers.tick(500);
    assert.equal(proc.compactions, 0, 'not while busy');
    proc.load = 0.01;
    t.mock.timers.tick(500);
    assert.equal(proc.compactions, 1, 'quiet after growth');
    t.mock.timers.tick(5000);
    assert.equal(proc.compactions, 1, 'nothing has grown since');
  });

  test('growth below the threshold is left alone', (t) => {
    const { proc } = start(t);
    proc.heap += 3 * MB;
    t.mock.timers.tick(2000);
    assert.equal(proc.compactions, 0);
  });

  test('measures growth from the heap left by its last compaction', (t) => {
    const { proc } = start(t);
    proc.heap = proc.live = 40 * MB; // 30 MB of live visitors: compacting frees nothing
    t.mock.timers.tick(500);
    assert.equal(proc.compactions, 1);
    proc.heap += 3 * MB;
    t.mock.timers.tick(2000);
    assert.equal(proc.compactions, 1, '3 MB above the new baseline is below the threshold');
    proc.heap += 2 * MB;
    t.mock.timers.tick(500);
    assert.equal(proc.compactions, 2);
  });

  test('close() stops it and is idempotent', (t) => {
    const { proc, compactor } = start(t);
    compactor.close();
    compactor.close();
    proc.heap += 100 * MB;
    t.mock.timers.tick(5000);
    assert.equal(proc.compactions, 0);
  });
});
