// With a short flush interval a slow store must not pile up flushes: a timer tick that finds the
// previous tick's flush still running is skipped, and the next tick takes everything pending.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type TrafficEntry, TrafficRecorder } from '../../src/admin/traffic-recorder.ts';
import { silentLogger } from '../../src/log.ts';
import type { LicenseRecord, MappingRecord } from '../../src/server/directory.ts';
import { license } from '../support/stack.ts';

const lab: LicenseRecord = license('lab', 'k'.repeat(32), [{ publicPort: 9101, targetPort: 22 }]);
const ssh = lab.mappings[0] as MappingRecord;

test('ticks during a slow flush are skipped, not queued; the next tick takes what arrived meanwhile', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const calls: TrafficEntry[][] = [];
  let release = () => {};
  const recorder = new TrafficRecorder(
    async (entries) => {
      calls.push(entries);
      if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
    },
    { intervalMs: 1000, logger: silentLogger },
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  recorder.traffic(lab, ssh, 1, 1);
  t.mock.timers.tick(1000); // starts a flush that hangs
  await settle();
  recorder.traffic(lab, ssh, 10, 10);
  t.mock.timers.tick(1000);
  t.mock.timers.tick(1000);
  recorder.traffic(lab, ssh, 100, 100);
  await settle();
  assert.equal(calls.length, 1);

  release();
  await settle();
  assert.equal(calls.length, 1, 'no flushes were queued behind the slow one');
  assert.deepEqual(recorder.pending, [
    { licenseId: 'lab', mappingId: 'lab:9101', bytesIn: 110n, bytesOut: 110n },
  ]);

  t.mock.timers.tick(1000);
  await recorder.close();
  assert.deepEqual(calls.slice(1), [
    [{ licenseId: 'lab', mappingId: 'lab:9101', bytesIn: 110n, bytesOut: 110n }],
  ]);
});
