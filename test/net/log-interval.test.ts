// One log line per interval, carrying how many events it stands for.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogInterval } from '../../src/net/log-interval.ts';

test('the first event logs, the next ones within the interval are counted into the next line', () => {
  let now = 1000;
  const gate = new LogInterval(10_000, () => now);
  assert.equal(gate.note(), 1);
  assert.equal(gate.note(), undefined);
  now += 9_999;
  assert.equal(gate.note(), undefined);
  now += 1;
  assert.equal(gate.note(), 3, 'this one and the two held back');
  now += 60_000;
  assert.equal(gate.note(), 1);
});
