// The TCP session timeouts in the server's configuration: `limits.halfClosedTimeout` is on by
// default (1m), `limits.tcpIdleTimeout` off unless set; both are durations, checked like the
// others, and reach the tunnel as TunnelServerOptions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadServerConfig, toServerSettings } from '../../src/config/server-config.ts';
import { problemsOf, tempFile } from './helpers.ts';

test('by default half-closed sessions idle out after 1m and full-open ones never', async (t) => {
  const config = await loadServerConfig({ file: await tempFile(t, 'limits:\n'), env: {} });
  assert.equal(config.limits.halfClosedTimeout, 60_000);
  assert.equal(config.limits.tcpIdleTimeout, undefined);
  const settings = toServerSettings(config);
  assert.equal(settings.halfClosedTimeoutMs, 60_000);
  assert.equal('tcpIdleTimeoutMs' in settings, false, 'no idle timeout for full-open sessions');
});

test('both are durations, in units or milliseconds, and reach the tunnel options', async (t) => {
  const file = await tempFile(t, 'limits: { halfClosedTimeout: 15s, tcpIdleTimeout: 2h30m }\n');
  const settings = toServerSettings(await loadServerConfig({ file, env: {} }));
  assert.equal(settings.halfClosedTimeoutMs, 15_000);
  assert.equal(settings.tcpIdleTimeoutMs, 9_000_000);

  const plain = await tempFile(t, 'limits: { halfClosedTimeout: 500, tcpIdleTimeout: 750 }\n');
  const fromNumbers = toServerSettings(await loadServerConfig({ file: plain, env: {} }));
  assert.equal(fromNumbers.halfClosedTimeoutMs, 500);
  assert.equal(fromNumbers.tcpIdleTimeoutMs, 750);
});

test('a key left without a value keeps the default (tcpIdleTimeout stays off)', async (t) => {
  const file = await tempFile(t, 'limits:\n  halfClosedTimeout:\n  tcpIdleTimeout:\n');
  const settings = toServerSettings(await loadServerConfig({ file, env: {} }));
  assert.equal(settings.halfClosedTimeoutMs, 60_000);
  assert.equal(settings.tcpIdleTimeoutMs, undefined);
});

test('zero, negative, unitless words and over-long values are refused, naming the setting', async (t) => {
  const zero = await tempFile(t, 'limits: { halfClosedTimeout: 0, tcpIdleTimeout: 0s }\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file: zero, env: {} })), [
    'limits.halfClosedTimeout: must be at least 1ms',
    'limits.tcpIdleTimeout: must be at least 1ms',
  ]);
  const words = await tempFile(t, 'limits: { halfClosedTimeout: -5s, tcpIdleTimeout: forever }\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file: words, env: {} })), [
    'limits.halfClosedTimeout: expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)',
    'limits.tcpIdleTimeout: expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)',
  ]);
  const long = await tempFile(t, 'limits: { tcpIdleTimeout: 1000h }\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file: long, env: {} })), [
    'limits.tcpIdleTimeout: must be at most 596h',
  ]);
});
