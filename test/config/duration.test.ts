import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';

test('numbers are milliseconds', () => {
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1500), 1500);
  assert.equal(parseDuration('250'), 250);
});

test('strings take ms, s, m and h units, alone or combined', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('15s'), 15_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(' 10 s '), 10_000);
});

test('anything else is not a duration', () => {
  for (const bad of [
    '',
    's',
    '15x',
    '-1s',
    '1d',
    '15 seconds',
    'ms15',
    '1s garbage',
    true,
    null,
    {},
    -5,
    Number.NaN,
  ]) {
    assert.equal(parseDuration(bad), undefined, `${String(bad)} should be rejected`);
  }
});

test('formatDuration writes the shortest readable form', () => {
  assert.equal(formatDuration(0), '0ms');
  assert.equal(formatDuration(500), '500ms');
  assert.equal(formatDuration(15_000), '15s');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(3_600_250), '1h250ms');
});
