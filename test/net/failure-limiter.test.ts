import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureLimiter } from '../../src/net/failure-limiter.ts';

test('an address is blocked after maxFailures in one window, and free again in the next', () => {
  let now = 0;
  const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 1000, now: () => now });
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.blocked('10.0.0.1'), false);
    limiter.fail('10.0.0.1');
  }
  assert.equal(limiter.blocked('10.0.0.1'), true);
  assert.equal(limiter.blocked('10.0.0.2'), false, 'other addresses are unaffected');
  now = 999;
  assert.equal(limiter.blocked('10.0.0.1'), true);
  now = 1000;
  assert.equal(limiter.blocked('10.0.0.1'), false);
});

test('memory stays bounded by maxAddresses, dropping the oldest entries', () => {
  const limiter = new FailureLimiter({ maxFailures: 1, windowMs: 60_000, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) limiter.fail(`192.0.2.${i}`);
  assert.equal(limiter.size, 100);
  assert.equal(limiter.blocked('192.0.2.999'), true);
  assert.equal(limiter.blocked('192.0.2.0'), false);
});
