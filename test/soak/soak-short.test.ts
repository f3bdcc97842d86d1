// The short form of the soak suite (test/soak/soak.ts runs the long one): a real `muon server`
// process with 100 clients and bursts of 1,000 visitors for 20 s. Every visitor is served and
// closed without an error and no client gets much less service than the others; the server keeps
// no more sockets after the last burst than after the first, no more JS heap (after a full GC)
// and not much more resident memory.

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
    gcAfterBursts: true,
    // V8 grows its young generation under these bursts, to 64 MiB semi-spaces (128 MiB
    // committed) at most, and a full GC keeps it: RSS after the last burst was +18 % to +30 %
    // above the first in 2026-12-08's runs, with the JS heap used flat. Pinned at 16 MiB here, so
    // that the RSS check below sees what the server keeps, not how V8 sized that space.
    serverEnv: { NODE_OPTIONS: '--max-semi-space-size=16' },
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

  const first = result.bursts[0];
  const last = result.bursts[result.bursts.length - 1];
  for (const b of result.bursts) {
    t.diagnostic(
      `burst ${b.n}: fds ${b.serverFdsAfter}, RSS ${b.serverRssAfter.toFixed(1)} MiB, after a full GC: ` +
        `heap ${b.afterGc?.heapUsed} MiB, external ${b.afterGc?.external} MiB, arrayBuffers ${b.afterGc?.arrayBuffers} MiB`,
    );
  }
  assert.ok(first && last);
  assert.ok(
    result.bursts.every((b) => b.serverFdsAfter <= first.serverFdsAfter + 100),
    `server fds after each burst at most one a client above those after the first (${first.serverFdsAfter}): ` +
      result.bursts.map((b) => b.serverFdsAfter).join(', '),
  );
  // The JS heap the server keeps (after a full GC) once a burst is gone. From the second burst:
  // after the first it held 0.2–6.3 MiB more in these runs (one-time code and feedback).
  // Seen on 2026-11-24: +0.2 to +0.4 MiB from the second burst to the last, in 5 runs. Keeping
  // every visitor's socket by mistake (a Set never emptied, tried on purpose) added 2.3 MiB a
  // burst of 1,000 and failed here.
  const second = result.bursts[1];
  assert.ok(second?.afterGc && last.afterGc, 'the server reported its memory after a GC');
  assert.ok(
    last.afterGc.heapUsed - second.afterGc.heapUsed < 3,
    `JS heap kept after a full GC grew by less than 3 MiB from the second burst to the last: ` +
      `${second.afterGc.heapUsed} -> ${last.afterGc.heapUsed} MiB`,
  );
  // RSS after the last burst against the first. With a full GC after each burst (no garbage
  // waiting, V8 does not grow its heap for it) it rose +1.3 % to +9.3 % in 5 runs on
  // 2026-11-24, and +2.9 % to +6.9 % in 7 on 2026-12-08 with the young generation pinned.
  // Keeping 16 KiB for each visitor, on purpose, failed here (+46 %; +85 % on 2026-12-08).
  // Without those GCs it rises 13–39 % in 20 s, toward a ceiling set by the TLS channels open at
  // once (docs/security.md, "Memory").
  assert.ok(
    last.serverRssAfter < first.serverRssAfter * 1.25,
    `server RSS after the last burst (${last.serverRssAfter} MiB) within +25 % of the first (${first.serverRssAfter} MiB)`,
  );

  const f = fairness(result);
  assert.ok(
    f.roundTripsPerSecond.min >= 0.5 * f.roundTripsPerSecond.median,
    `every client got at least half the median round-trip rate (${f.roundTripsPerSecond.min} vs ${f.roundTripsPerSecond.median})`,
  );
  assert.equal(result.shutdown.code, 0, 'the server stopped cleanly');
});
