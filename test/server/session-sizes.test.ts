// Specification of SessionSizes (src/server/session-sizes.ts): which mappings' visitors get raw
// sessions, by the bytes their recent sessions moved.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionSizes } from '../../src/server/session-sizes.ts';

describe('SessionSizes', () => {
  test('a mapping not seen yet is big: its first visitors may have raw sessions', () => {
    assert.equal(new SessionSizes(1_000_000).big('m'), true);
  });

  test('small sessions make a mapping small; each mapping has its own average', () => {
    const sizes = new SessionSizes(1_000_000);
    sizes.record('echo', 64);
    sizes.record('files', 50_000_000);
    assert.equal(sizes.big('echo'), false);
    assert.equal(sizes.big('files'), true);
  });

  test('the newest session weighs a quarter: one big session after small ones is not enough, a few are', () => {
    const sizes = new SessionSizes(1_000_000);
    sizes.record('m', 0);
    sizes.record('m', 2_000_000); // 500,000
    assert.equal(sizes.big('m'), false);
    sizes.record('m', 2_000_000); // 875,000
    assert.equal(sizes.big('m'), false);
    sizes.record('m', 2_000_000); // 1,156,250
    assert.equal(sizes.big('m'), true);
    for (let i = 0; i < 4; i++) sizes.record('m', 100); // about 366,000
    assert.equal(sizes.big('m'), false);
  });

  test('a minimum of 0 makes every mapping big', () => {
    const sizes = new SessionSizes(0);
    sizes.record('m', 0);
    assert.equal(sizes.big('m'), true);
  });
});
