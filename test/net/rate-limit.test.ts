// Shared speed limits with mocked timers: an overdrawn reader waits until its debt is repaid,
// everyone waiting resumes together in the order they paused, a limit changed or lifted applies
// to those already waiting, and a Throttle waits for every limit it answers to.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { RateLimit, Throttle } from '../../src/net/rate-limit.ts';

function clock(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
      t.mock.timers.tick(ms);
    },
  };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('RateLimit', () => {
  test('unlimited takes everything; a rate set later applies from then on', (t) => {
    const c = clock(t);
    const limit = new RateLimit(null, c.now);
    assert.equal(limit.limited, false);
    assert.equal(limit.take(1e12), true);
    limit.setRate(1000);
    assert.equal(limit.limited, true);
    assert.equal(limit.rate, 1000);
    assert.equal(limit.take(100), true);
    assert.equal(limit.take(1), false);
    assert.equal(limit.inDebt(), true);
  });

  test('waiters resume together, in the order they paused, once the debt is repaid', (t) => {
    const c = clock(t);
    const limit = new RateLimit(1000, c.now);
    limit.take(600); // 500 B of debt: half a second
    const woken: string[] = [];
    limit.wait(() => woken.push('a'));
    limit.wait(() => woken.push('b'));
    c.advance(499);
    assert.deepEqual(woken, []);
    c.advance(1);
    assert.deepEqual(woken, ['a', 'b']);
    assert.equal(limit.inDebt(), false);
  });

  test('a cancelled waiter is not woken; the last one out stops the timer', (t) => {
    const c = clock(t);
    const limit = new RateLimit(1000, c.now);
    limit.take(200);
    let woken = 0;
    const cancel = limit.wait(() => woken++);
    cancel();
    c.advance(1000);
    assert.equal(woken, 0);
  });

  test('a new rate reschedules those waiting; lifting the limit wakes them at once', (t) => {
    const c = clock(t);
    const limit = new RateLimit(100, c.now);
    limit.take(1010); // 1000 B of debt: 10 s at 100 B/s
    let woken = 0;
    limit.wait(() => woken++);
    c.advance(1000);
    limit.setRate(10_000); // 900 B left: 90 ms at the new rate
    c.advance(89);
    assert.equal(woken, 0);
    c.advance(1);
    assert.equal(woken, 1);

    limit.take(20_000);
    limit.wait(() => woken++);
    limit.setRate(null);
    assert.equal(woken, 2, 'unlimited: resumed without waiting');
    assert.equal(limit.take(1e9), true);
  });

  test('rates below 1 B/s count as 1; infinity or NaN as unlimited; a huge debt does not overflow the timer', (t) => {
    const c = clock(t);
    const limit = new RateLimit(0, c.now);
    assert.equal(limit.rate, 1);
    limit.setRate(Number.POSITIVE_INFINITY);
    assert.equal(limit.limited, false);
    limit.setRate(Number.NaN);
    assert.equal(limit.limited, false);
    limit.setRate(1);
    limit.take(1e12); // ~31 years of debt
    let woken = 0;
    limit.wait(() => woken++);
    c.advance(2 ** 31 - 1);
    assert.equal(woken, 0, 'still waiting, the timer simply looks again');
    limit.setRate(null);
    assert.equal(woken, 1);
  });

  test('close() wakes whoever waits', (t) => {
    const c = clock(t);
    const limit = new RateLimit(10, c.now);
    limit.take(1000);
    let woken = 0;
    limit.wait(() => woken++);
    limit.close();
    assert.equal(woken, 1);
  });
});

describe('Throttle', () => {
  test('active while any limit is set; take counts against every limit', (t) => {
    const c = clock(t);
    const mapping = new RateLimit(null, c.now);
    const license = new RateLimit(null, c.now);
    const throttle = new Throttle([mapping, license]);
    assert.equal(throttle.active, false);
    license.setRate(1000);
    assert.equal(throttle.active, true);
    mapping.setRate(10_000);
    assert.equal(throttle.take(500), false, 'the license is overdrawn, the mapping is not');
    assert.equal(mapping.inDebt(), false);
    assert.equal(license.inDebt(), true);
  });

  test('waits until every limit is out of debt, the stricter one last', (t) => {
    const c = clock(t);
    const strict = new RateLimit(1000, c.now);
    const loose = new RateLimit(10_000, c.now);
    const throttle = new Throttle([loose, strict]);
    throttle.take(2100); // loose: -1100 (110 ms); strict: -2000 (2 s)
    let resumed = 0;
    throttle.wait(() => resumed++);
    c.advance(110);
    assert.equal(resumed, 0, 'the loose limit is paid, the strict one is not');
    c.advance(1889);
    assert.equal(resumed, 0);
    c.advance(1);
    assert.equal(resumed, 1);
  });

  test('cancel stops a wait on whichever limit it is at; with no debt it resumes later, not inside wait()', async (t) => {
    const c = clock(t);
    const a = new RateLimit(1000, c.now);
    const throttle = new Throttle([a]);
    throttle.take(500);
    let resumed = 0;
    const cancel = throttle.wait(() => resumed++);
    cancel();
    c.advance(10_000);
    assert.equal(resumed, 0);

    throttle.wait(() => resumed++);
    assert.equal(resumed, 0, 'never from inside wait()');
    await flush();
    assert.equal(resumed, 1);
  });
});
