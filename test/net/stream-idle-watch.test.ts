// Specification of the TCP session idle watch, on a mocked clock: it ends a session after at
// least its timeout of silence and at most a quarter more, never while the byte count moves; the
// half-closed timeout applies from the half-close on; with no timeout applying, no timer runs.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import {
  CHECKS_PER_TIMEOUT,
  type StreamIdleLimits,
  StreamIdleWatch,
} from '../../src/net/stream-idle-watch.ts';

const T = 400;
const LATEST = T + T / CHECKS_PER_TIMEOUT;

/** A watch over a byte count the test moves; `fired` lists the timeouts reported, at `firedAt`. */
function watch(t: TestContext, limits: StreamIdleLimits, halfClosed = false) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const state = { moved: 0, reads: 0, fired: [] as number[], firedAt: [] as number[] };
  const started = Date.now();
  const w = new StreamIdleWatch(
    limits,
    halfClosed,
    () => {
      state.reads++;
      return state.moved;
    },
    (timeoutMs) => {
      state.fired.push(timeoutMs);
      state.firedAt.push(Date.now() - started);
    },
  );
  t.after(() => w.stop());
  /** Advances the clock in 1 ms steps, so timers fire exactly when due. */
  const advance = (ms: number) => {
    for (let i = 0; i < ms; i++) t.mock.timers.tick(1);
  };
  return { w, state, advance };
}

describe('StreamIdleWatch', () => {
  test('a quiet session is ended after at least the timeout and at most a quarter more', (t) => {
    const { state, advance } = watch(t, { halfClosedMs: 60_000, idleMs: T });
    advance(T - 1);
    assert.deepEqual(state.fired, [], 'not before the timeout');
    advance(LATEST - T + 1);
    assert.deepEqual(state.fired, [T]);
    assert.ok((state.firedAt[0] ?? 0) >= T && (state.firedAt[0] ?? 0) <= LATEST);
    advance(10 * T);
    assert.deepEqual(state.fired, [T], 'once');
  });

  test('bytes moving keep the session; the silence is counted from the last of them', (t) => {
    const { state, advance } = watch(t, { halfClosedMs: 60_000, idleMs: T });
    for (let i = 0; i < 20; i++) {
      advance(T / 2);
      state.moved += 1;
    }
    assert.deepEqual(state.fired, [], `${10 * T} ms with a byte every ${T / 2} ms`);
    const lastByteAt = Date.now();
    advance(LATEST + 1);
    assert.equal(state.fired.length, 1);
    const quiet = Date.now() - lastByteAt;
    assert.ok(quiet >= T, `ended after ${quiet} ms of silence`);
  });

  test('a full-open session without idleMs runs no timer; the half-close starts the half-closed timeout', (t) => {
    const { w, state, advance } = watch(t, { halfClosedMs: T });
    advance(20 * T);
    assert.deepEqual(state.fired, []);
    assert.equal(state.reads, 1, 'the count was read when the watch started, and never checked since');
    w.halfClosed();
    advance(T - 1);
    assert.deepEqual(state.fired, [], 'the silence before the half-close does not count');
    advance(LATEST - T + 1);
    assert.deepEqual(state.fired, [T]);
  });

  test('a watch started on a half-closed session applies the half-closed timeout at once', (t) => {
    const { state, advance } = watch(t, { halfClosedMs: T }, true);
    advance(LATEST);
    assert.deepEqual(state.fired, [T]);
  });

  test('the shorter of the two timeouts applies once half-closed', (t) => {
    const { w, state, advance } = watch(t, { halfClosedMs: 10 * T, idleMs: T });
    w.halfClosed();
    advance(LATEST);
    assert.deepEqual(state.fired, [T], 'idleMs, being shorter, still applies');
  });

  test('stop() ends the watch for good', (t) => {
    const { w, state, advance } = watch(t, { halfClosedMs: T, idleMs: T });
    w.stop();
    w.halfClosed();
    advance(10 * T);
    assert.deepEqual(state.fired, []);
  });
});
