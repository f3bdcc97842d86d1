// Traffic reports are summed per license and mapping, flushed on an interval and on close,
// kept across a failed flush, and exact beyond 2^53 bytes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type TrafficEntry, TrafficRecorder } from '../../src/admin/traffic-recorder.ts';
import { silentLogger } from '../../src/log.ts';
import type { LicenseRecord, MappingRecord } from '../../src/server/directory.ts';
import { license } from '../support/stack.ts';

const lab: LicenseRecord = license('lab', 'k'.repeat(32), [{ publicPort: 9101, targetPort: 22 }]);
const ssh = lab.mappings[0] as MappingRecord;
const web: MappingRecord = { ...ssh, id: 'lab:9102', publicPort: 9102 };

test('reports are summed per mapping and flushed on the interval', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const flushed: TrafficEntry[][] = [];
  const recorder = new TrafficRecorder(async (entries) => void flushed.push(entries), {
    intervalMs: 1000,
    logger: silentLogger,
  });
  t.after(() => recorder.close());
  recorder.traffic(lab, ssh, 100, 1000);
  recorder.traffic(lab, ssh, 50, 5);
  recorder.traffic(lab, web, 7, 0);
  t.mock.timers.tick(1000);
  await recorder.flush();
  assert.deepEqual(flushed, [
    [
      { licenseId: 'lab', mappingId: 'lab:9101', bytesIn: 150n, bytesOut: 1005n },
      { licenseId: 'lab', mappingId: 'lab:9102', bytesIn: 7n, bytesOut: 0n },
    ],
  ]);
  assert.deepEqual(recorder.pending, []);
});

test('close() flushes the remainder: a clean stop loses nothing', async () => {
  const flushed: TrafficEntry[] = [];
  const recorder = new TrafficRecorder(async (entries) => void flushed.push(...entries), {
    intervalMs: 60_000,
    logger: silentLogger,
  });
  recorder.traffic(lab, ssh, 1, 2);
  await Promise.all([recorder.close(), recorder.close()]);
  assert.deepEqual(flushed, [{ licenseId: 'lab', mappingId: 'lab:9101', bytesIn: 1n, bytesOut: 2n }]);
});

test('a failed flush keeps its counts, merged with newer ones, for the next attempt', async () => {
  let fail = true;
  const flushed: TrafficEntry[] = [];
  const recorder = new TrafficRecorder(
    async (entries) => {
      if (fail) throw new Error('database is down');
      flushed.push(...entries);
    },
    { intervalMs: 60_000, logger: silentLogger },
  );
  recorder.traffic(lab, ssh, 10, 20);
  await recorder.flush();
  assert.deepEqual(flushed, []);
  recorder.traffic(lab, ssh, 1, 2);
  fail = false;
  await recorder.close();
  assert.deepEqual(flushed, [{ licenseId: 'lab', mappingId: 'lab:9101', bytesIn: 11n, bytesOut: 22n }]);
});

test('totals stay exact past 2^53 bytes', async () => {
  const flushed: TrafficEntry[] = [];
  const recorder = new TrafficRecorder(async (entries) => void flushed.push(...entries), {
    intervalMs: 60_000,
    logger: silentLogger,
  });
  const big = Number.MAX_SAFE_INTEGER;
  recorder.traffic(lab, ssh, big, 0);
  recorder.traffic(lab, ssh, big, 0);
  recorder.traffic(lab, ssh, 3, 0);
  await recorder.close();
  assert.equal(flushed[0]?.bytesIn, 2n * BigInt(big) + 3n);
});
