// Specification of RecentActivity: which mover (a stream, a session) moved data last, and whether
// another one moved data within ACTIVE_MS of that, on a clock the test moves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACTIVE_MS, RecentActivity } from '../../src/net/recent-activity.ts';

function withClock() {
  let now = 10_000;
  const activity = new RecentActivity(() => now);
  return { activity, tick: (ms: number) => (now += ms) };
}

test('nothing moved: nobody has company', () => {
  const { activity } = withClock();
  assert.equal(activity.othersActive('a'), false);
  assert.equal(activity.shared(), false);
});

test('one mover alone has no company; any other mover has it', () => {
  const { activity, tick } = withClock();
  activity.note('a');
  tick(10);
  activity.note('a');
  assert.equal(activity.othersActive('a'), false);
  assert.equal(activity.othersActive('b'), true, 'a moved data');
  assert.equal(activity.shared(), false);
});

test('two movers within ACTIVE_MS of each other both have company, until one stays quiet that long', () => {
  const { activity, tick } = withClock();
  activity.note('a');
  tick(300);
  activity.note('b');
  tick(ACTIVE_MS - 1);
  activity.note('a');
  assert.equal(activity.othersActive('a'), true, `b moved ${ACTIVE_MS - 1} ms ago`);
  assert.equal(activity.othersActive('b'), true);
  assert.equal(activity.shared(), true);
  tick(1);
  activity.note('a');
  assert.equal(activity.othersActive('a'), false, `b has been quiet for ${ACTIVE_MS} ms`);
  assert.equal(activity.shared(), false);
});

test('a third mover counts as company for both others, through the latest of them', () => {
  const { activity, tick } = withClock();
  activity.note('a');
  tick(ACTIVE_MS * 2);
  activity.note('b');
  activity.note('c');
  assert.equal(activity.othersActive('c'), true, 'b just moved');
  assert.equal(activity.othersActive('a'), true, 'c just moved');
});
