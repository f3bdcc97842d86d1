// Reconnect delays grow exponentially with jitter, are capped, and reset after a stable session.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/client/backoff.ts';

test('delays double from the initial value, each between half and all of its ceiling', () => {
  const low = new Backoff(100, 10_000, () => 0);
  const high = new Backoff(100, 10_000, () => 0.999999);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => low.next()),
    [50, 100, 200, 400],
  );
  assert.deepEqual(
    [1, 2, 3, 4].map(() => high.next()),
    [100, 200, 400, 800],
  );
});

test('delays never exceed the maximum, however many attempts', () => {
  const backoff = new Backoff(100, 5_000);
  const delays = Array.from({ length: 200 }, () => backoff.next());
  assert.ok(delays.every((d) => d >= 50 && d <= 5_000));
  assert.ok(
    delays.slice(-50).every((d) => d >= 2_500),
    'late attempts sit in the top half of the cap',
  );
});

test('jitter spreads clients that fail at the same moment', () => {
  const firstRetries = Array.from({ length: 100 }, () => new Backoff(1_000, 30_000).next());
  assert.ok(new Set(firstRetries).size > 50);
});

test('reset() starts over and toMax() jumps to the cap', () => {
  const backoff = new Backoff(100, 5_000, () => 0);
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.next(), 50);
  backoff.toMax();
  assert.equal(backoff.next(), 2_500);
});
