// The token bucket's arithmetic on a simulated clock: a reader that waits out its debt gets the
// rate on average, never more than one burst and one chunk above it, never less than the rate.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TokenBucket } from '../../src/net/token-bucket.ts';

/** A reader with data always ready: takes a chunk, and when overdrawn waits what the bucket says. */
function greedy(rate: number, chunks: readonly number[]): { taken: number; at: number; biggest: number } {
  const bucket = new TokenBucket(rate, 0);
  let now = 0;
  let taken = 0;
  for (const chunk of chunks) {
    now += bucket.waitMs(now);
    bucket.take(chunk, now);
    taken += chunk;
  }
  return { taken, at: now, biggest: Math.max(...chunks) };
}

describe('TokenBucket', () => {
  test('starts with a burst of a tenth of a second, then counts debt and its repayment', () => {
    const bucket = new TokenBucket(1000, 0);
    assert.equal(bucket.balance(0), 100);
    assert.equal(bucket.take(100, 0), true, 'the burst may be spent at once');
    assert.equal(bucket.take(50, 0), false, 'one byte more is debt');
    assert.equal(bucket.balance(0), -50);
    assert.equal(bucket.waitMs(0), 50);
    assert.equal(bucket.waitMs(20), 30);
    assert.equal(bucket.waitMs(50), 0);
    assert.equal(bucket.balance(10_000), 100, 'an idle bucket fills up to the burst, no further');
  });

  test('a clock that steps back adds nothing and takes nothing away', () => {
    const bucket = new TokenBucket(1000, 5000);
    bucket.take(300, 5000);
    assert.equal(bucket.balance(4000), -200);
    assert.equal(bucket.balance(5100), -100);
  });

  test('setRate: what accrued counts at the old rate, the debt is kept, the burst follows the rate', () => {
    const bucket = new TokenBucket(1000, 0);
    bucket.take(1100, 0); // -1000: one second of debt at 1000 B/s
    bucket.setRate(10_000, 500); // -500 accrued at the old rate
    assert.equal(bucket.balance(500), -500);
    assert.equal(bucket.waitMs(500), 50, 'repaid ten times faster from now on');
    assert.equal(bucket.balance(10_000), 1000, 'the new burst: a tenth of a second at the new rate');
    bucket.setRate(100, 10_000);
    assert.equal(bucket.balance(10_000), 10, 'a lower rate trims the saved burst');
    assert.equal(bucket.rate, 100);
  });

  test('property: a greedy reader gets at least the rate and at most one burst and one chunk more', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000_000 }),
        fc.array(fc.integer({ min: 1, max: 256 * 1024 }), { minLength: 1, maxLength: 300 }),
        (rate, chunks) => {
          const { taken, at, biggest } = greedy(rate, chunks);
          const earned = (rate * at) / 1000;
          const burst = Math.max(1, rate / 10);
          // Taken up to the last chunk (included) is earned + burst - what is left.
          assert.ok(taken <= earned + burst + biggest + 1e-6, `${taken} > ${earned} + ${burst} + ${biggest}`);
          assert.ok(
            taken - (chunks.at(-1) ?? 0) <= earned + burst + 1e-6,
            'every chunk but the last was paid for',
          );
          // Whole-millisecond waits round up, so a greedy reader may fall behind by under 1 ms per chunk.
          assert.ok(taken >= (rate * (at - chunks.length)) / 1000, `${taken} < rate over ${at} ms`);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('property: however a reader times its takes, what it got past its debt is bounded by the rate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 65_536 })), {
          minLength: 1,
          maxLength: 200,
        }),
        (rate, steps) => {
          const bucket = new TokenBucket(rate, 0);
          let now = 0;
          let passed = 0;
          for (const [pause, chunk] of steps) {
            now += pause;
            // An obedient reader takes only while not in debt.
            if (bucket.balance(now) < 0) continue;
            bucket.take(chunk, now);
            passed += chunk;
            assert.ok(passed <= (rate * now) / 1000 + Math.max(1, rate / 10) + chunk + 1e-6);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
