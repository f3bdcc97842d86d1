// compactHeap(): one memory-reducing collection after start-up (src/cli/compact-heap.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapSpaceStatistics } from 'node:v8';
import { compactHeap } from '../../src/cli/compact-heap.ts';

const newSpace = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

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
