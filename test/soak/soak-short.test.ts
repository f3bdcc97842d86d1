// The short form of the soak suite (test/soak/soak.ts runs the long one): a real `muon server`
// process with 100 clients and bursts of 1,000 visitors for 20 s. Every visitor is served and
// closed without an error and no client gets much less service than the others. That the server's
// memory after the last burst stays near that after the first is a known open problem (todo).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fairness, formatReport } from './report.ts';
import { runSoak } from './run-soak.ts';

test('100 clients, bursts of 1,000 visitors for 20 s: no error, every client served fairly', {
  timeout: 90_000,
}, async (t) => {
  const result = await runSoak({
    durationMs: 20_000,
    clients: 100,
    visitors: 1000,
    rampBursts: 1,
    fleets: 1,
    holdMs: 1000,
    pauseMs: 250,
    messageBytes: 1024,
    minIdle: 8,
    burstTimeoutMs: 15_000,
    sampleMs: 500,
    warmupMs: 7000,
  });
  for (const line of formatReport(result).split('\n')) t.diagnostic(line);

  assert.deepEqual(result.errors, {}, 'no error of any kind under load');
  assert.ok(result.bursts.length >= 3, `at least 3 bursts in 20 s (${result.bursts.length})`);
  for (const b of result.bursts) {
    assert.equal(b.activeGauge, 1000, `burst ${b.n}: the server counted every visitor open at once`);
  }
  const served = result.bursts.length * 10;
  result.tallies.forEach((tally, client) => {
    assert.equal(tally.served, served, `client ${client} served each of its visitors`);
  });

  const first = result.bursts[0]?.serverRssAfter ?? Number.NaN;
  const last = result.bursts[result.bursts.length - 1]?.serverRssAfter ?? Number.NaN;
  await t.test(
    'server memory after the last burst within +30 % of the first',
    {
      todo:
        'RSS grows under repeated bursts (+13–39 % in 20 s here; +25–39 MiB/min over 3–8 min soak runs) ' +
        'while the JS heap stays flat: not yet explained (docs/security.md, Under load)',
    },
    () => {
      assert.ok(
        last < first * 1.3,
        `server RSS after the last burst (${last} MiB) vs the first (${first} MiB)`,
      );
    },
  );

  const f = fairness(result);
  assert.ok(
    f.roundTripsPerSecond.min >= 0.5 * f.roundTripsPerSecond.median,
    `every client got at least half the median round-trip rate (${f.roundTripsPerSecond.min} vs ${f.roundTripsPerSecond.median})`,
  );
  assert.equal(result.shutdown.code, 0, 'the server stopped cleanly');
});
