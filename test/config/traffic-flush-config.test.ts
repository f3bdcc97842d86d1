// `store.trafficFlushInterval`: how often counted traffic is written to the store (what a crash
// can lose). 10s unless set; a duration from 1s to 1h, from the file or MUON_TRAFFIC_FLUSH_INTERVAL.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { problemsOf, tempFile } from './helpers.ts';

test('traffic is written every 10s unless set', async (t) => {
  const config = await loadServerConfig({ file: await tempFile(t, 'store:\n'), env: {} });
  assert.equal(config.store.trafficFlushInterval, 10_000);
});

test('a duration in the file, or from the environment (which wins)', async (t) => {
  const file = await tempFile(t, 'store: { trafficFlushInterval: 30s }\n');
  assert.equal((await loadServerConfig({ file, env: {} })).store.trafficFlushInterval, 30_000);
  const fromEnv = await loadServerConfig({ file, env: { MUON_TRAFFIC_FLUSH_INTERVAL: '2s' } });
  assert.equal(fromEnv.store.trafficFlushInterval, 2000);
  const bounds = await tempFile(t, 'store: { trafficFlushInterval: 1h }\n');
  assert.equal((await loadServerConfig({ file: bounds, env: {} })).store.trafficFlushInterval, 3_600_000);
});

test('below 1s (a unitless 10 is 10 ms) or above 1h is refused, naming the setting', async (t) => {
  for (const value of ['10', '999ms', '1h1s', 'often']) {
    const file = await tempFile(t, `store: { trafficFlushInterval: ${value} }\n`);
    const expected =
      value === 'often'
        ? 'store.trafficFlushInterval: expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)'
        : 'store.trafficFlushInterval: must be 1s–1h';
    assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [expected], value);
  }
});
