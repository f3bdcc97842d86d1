// Traffic statistics (exact 64-bit counters, roll-ups, retention) and the two logs.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../../src/store/store.ts';
import { license, manualClock, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

const BIG = 2n ** 53n + 1n; // the first integer a JS number cannot hold

async function twoMappings(store: Store, username = 'alice') {
  const owner = await user(store, username);
  const lab = await license(store, owner.id);
  const target = { licenseId: lab.id, targetHost: 'h', targetPort: 1 };
  const base = username === 'alice' ? 1000 : 2000;
  const a = await store.mappings.create({ ...target, publicPort: base + 1 });
  const b = await store.mappings.create({ ...target, publicPort: base + 2 });
  return { licenseId: lab.id, a: a.id, b: b.id };
}

const at = (iso: string) => new Date(iso);

export function trafficTests(h: StoreHarness): void {
  describe('traffic', () => {
    test('counters beyond 2^53 are added exactly, in one batch and across batches', async (t) => {
      const store = await h.store(t);
      const { licenseId, a } = await twoMappings(store);
      const sample = { mappingId: a, licenseId, at: at('2025-01-15T10:00:30Z'), bytesIn: BIG, bytesOut: 1n };
      await store.traffic.add([sample, { ...sample, at: at('2025-01-15T10:00:59.999Z') }]);
      await store.traffic.add([{ ...sample, bytesIn: BIG * 512n, bytesOut: 3 }]);
      const [bucket, ...rest] = await store.traffic.series({ mappingId: a, granularity: 'minute' });
      assert.deepEqual(rest, []);
      assert.deepEqual(bucket, {
        bucketStart: at('2025-01-15T10:00:00Z'),
        bytesIn: BIG * 514n,
        bytesOut: 5n,
      });
      assert.ok((bucket?.bytesIn ?? 0n) > BigInt(Number.MAX_SAFE_INTEGER) * 500n);
      // The largest value a counter may hold is accepted; beyond it, or negative, is refused.
      await store.traffic.add([
        { ...sample, at: at('2025-01-15T11:00:00Z'), bytesIn: 2n ** 63n - 1n, bytesOut: 0 },
      ]);
      assert.equal(
        (
          await store.traffic.totals({
            mappingId: a,
            granularity: 'minute',
            from: at('2025-01-15T11:00:00Z'),
          })
        ).bytesIn,
        2n ** 63n - 1n,
      );
      await rejectsWith(store.traffic.add([{ ...sample, bytesIn: 2n ** 63n }]), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(store.traffic.add([{ ...sample, bytesOut: -1 }]), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(store.traffic.add([{ ...sample, bytesOut: 2 ** 60 }]), 'MUON_ERR_INVALID_INPUT');
      await store.traffic.add([]);
    });

    test('series per mapping or per license (summed), with time bounds; totals', async (t) => {
      const store = await h.store(t);
      const { licenseId, a, b } = await twoMappings(store);
      await store.traffic.add([
        { mappingId: a, licenseId, at: at('2025-01-15T10:00:10Z'), bytesIn: 100, bytesOut: 10 },
        { mappingId: b, licenseId, at: at('2025-01-15T10:00:20Z'), bytesIn: 200, bytesOut: 20 },
        { mappingId: a, licenseId, at: at('2025-01-15T10:01:00Z'), bytesIn: 1, bytesOut: 1 },
      ]);
      const byLicense = await store.traffic.series({ licenseId, granularity: 'minute' });
      assert.deepEqual(byLicense, [
        { bucketStart: at('2025-01-15T10:00:00Z'), bytesIn: 300n, bytesOut: 30n },
        { bucketStart: at('2025-01-15T10:01:00Z'), bytesIn: 1n, bytesOut: 1n },
      ]);
      assert.equal((await store.traffic.series({ mappingId: b, granularity: 'minute' })).length, 1);
      assert.deepEqual(
        await store.traffic.series({
          licenseId,
          granularity: 'minute',
          from: at('2025-01-15T10:01:00Z'),
          to: at('2025-01-15T10:02:00Z'),
        }),
        [{ bucketStart: at('2025-01-15T10:01:00Z'), bytesIn: 1n, bytesOut: 1n }],
      );
      assert.deepEqual(await store.traffic.totals({ licenseId, granularity: 'minute' }), {
        bytesIn: 301n,
        bytesOut: 31n,
      });
      assert.deepEqual(await store.traffic.totals({ licenseId, granularity: 'hour' }), {
        bytesIn: 0n,
        bytesOut: 0n,
      });
      const bobs = await twoMappings(store, 'bob');
      await store.traffic.add([
        {
          mappingId: bobs.a,
          licenseId: bobs.licenseId,
          at: at('2025-01-15T10:00:00Z'),
          bytesIn: 5,
          bytesOut: 5,
        },
      ]);
      const alice = (await store.licenses.get(licenseId))?.ownerId;
      assert.deepEqual(await store.traffic.totals({ ownerId: alice ?? 0, granularity: 'minute' }), {
        bytesIn: 301n,
        bytesOut: 31n,
      });
      assert.deepEqual(await store.traffic.totals({ granularity: 'minute' }), {
        bytesIn: 306n,
        bytesOut: 36n,
      });
    });

    test('roll-up: minutes → hours → days → months (UTC), idempotent, limited by since', async (t) => {
      const store = await h.store(t);
      const { licenseId, a, b } = await twoMappings(store);
      const s = (mappingId: number, iso: string, bytesIn: bigint) => ({
        mappingId,
        licenseId,
        at: at(iso),
        bytesIn,
        bytesOut: 1n,
      });
      await store.traffic.add([
        s(a, '2025-01-31T22:59:00Z', BIG),
        s(a, '2025-01-31T23:00:00Z', BIG),
        s(a, '2025-01-31T23:59:59Z', 5n),
        s(b, '2025-01-31T23:30:00Z', 7n),
        s(a, '2025-02-01T00:00:00Z', 11n),
      ]);
      const first = await store.traffic.rollUp();
      assert.deepEqual(first, { hour: 4, day: 3, month: 3, pruned: 0 });
      assert.deepEqual(await store.traffic.series({ mappingId: a, granularity: 'hour' }), [
        { bucketStart: at('2025-01-31T22:00:00Z'), bytesIn: BIG, bytesOut: 1n },
        { bucketStart: at('2025-01-31T23:00:00Z'), bytesIn: BIG + 5n, bytesOut: 2n },
        { bucketStart: at('2025-02-01T00:00:00Z'), bytesIn: 11n, bytesOut: 1n },
      ]);
      assert.deepEqual(await store.traffic.series({ licenseId, granularity: 'day' }), [
        { bucketStart: at('2025-01-31T00:00:00Z'), bytesIn: 2n * BIG + 12n, bytesOut: 4n },
        { bucketStart: at('2025-02-01T00:00:00Z'), bytesIn: 11n, bytesOut: 1n },
      ]);
      const months = await store.traffic.series({ licenseId, granularity: 'month' });
      assert.deepEqual(months, [
        { bucketStart: at('2025-01-01T00:00:00Z'), bytesIn: 2n * BIG + 12n, bytesOut: 4n },
        { bucketStart: at('2025-02-01T00:00:00Z'), bytesIn: 11n, bytesOut: 1n },
      ]);

      await store.traffic.rollUp();
      assert.deepEqual(await store.traffic.series({ licenseId, granularity: 'month' }), months, 'idempotent');

      // New minutes in February; a roll-up since February leaves January alone and updates February.
      await store.traffic.add([s(a, '2025-02-01T00:00:30Z', 1n), s(b, '2025-02-03T05:00:00Z', 100n)]);
      const since = await store.traffic.rollUp({ since: at('2025-02-01T00:00:00Z') });
      assert.deepEqual(since, { hour: 2, day: 2, month: 2, pruned: 0 });
      assert.deepEqual(await store.traffic.series({ licenseId, granularity: 'month' }), [
        months[0],
        { bucketStart: at('2025-02-01T00:00:00Z'), bytesIn: 112n, bytesOut: 3n },
      ]);
    });

    test('retention deletes whole rolled-up periods only, and totals stay right', async (t) => {
      const store = await h.store(t);
      const { licenseId, a } = await twoMappings(store);
      const minutes = [
        '2025-03-01T10:15:00Z',
        '2025-03-01T10:45:00Z',
        '2025-03-01T11:05:00Z',
        '2025-03-01T11:50:00Z',
      ];
      await store.traffic.add(
        minutes.map((iso) => ({ mappingId: a, licenseId, at: at(iso), bytesIn: 10n, bytesOut: 0n })),
      );
      // Keep 30 minutes of minutes at 11:40: the cutoff 11:10 rounds down to 11:00, so the 11:xx
      // minutes stay whole and the 10:xx ones (already in their hour bucket) go.
      const result = await store.traffic.rollUp({
        now: at('2025-03-01T11:40:00Z'),
        retain: { minute: 30 * 60_000 },
      });
      assert.equal(result.pruned, 2);
      assert.deepEqual(
        (await store.traffic.series({ mappingId: a, granularity: 'minute' })).map((b) =>
          b.bucketStart.toISOString(),
        ),
        ['2025-03-01T11:05:00.000Z', '2025-03-01T11:50:00.000Z'],
      );
      // Rolling up again recomputes 11:00 from its complete minutes and does not touch 10:00.
      await store.traffic.rollUp({ now: at('2025-03-01T11:41:00Z') });
      assert.deepEqual(
        (await store.traffic.series({ mappingId: a, granularity: 'hour' })).map((b) => b.bytesIn),
        [20n, 20n],
      );
      assert.equal((await store.traffic.totals({ licenseId, granularity: 'month' })).bytesIn, 40n);
      const pruneHours = await store.traffic.rollUp({
        now: at('2025-03-05T00:00:00Z'),
        retain: { hour: 0, day: 400 * 86_400_000 },
      });
      assert.equal(pruneHours.pruned, 4, 'both hours, in a day that ended, and the minutes under them');
      assert.equal((await store.traffic.totals({ licenseId, granularity: 'day' })).bytesIn, 40n);
      // Nothing is left below the day to rebuild it from, so a full roll-up keeps it whole.
      await store.traffic.rollUp();
      assert.equal((await store.traffic.totals({ licenseId, granularity: 'day' })).bytesIn, 40n);
      assert.equal((await store.traffic.totals({ licenseId, granularity: 'month' })).bytesIn, 40n);
    });

    test("a deleted mapping's history stays with its license; a deleted license's goes", async (t) => {
      const store = await h.store(t);
      const { licenseId, a } = await twoMappings(store);
      await store.traffic.add([
        { mappingId: a, licenseId, at: at('2025-01-01T00:00:00Z'), bytesIn: 5, bytesOut: 6 },
      ]);
      await store.mappings.delete(a);
      assert.deepEqual(await store.traffic.totals({ licenseId, granularity: 'minute' }), {
        bytesIn: 5n,
        bytesOut: 6n,
      });
      await store.licenses.delete(licenseId);
      assert.deepEqual(await store.traffic.totals({ mappingId: a, granularity: 'minute' }), {
        bytesIn: 0n,
        bytesOut: 0n,
      });
      // Bytes counted just before the delete and flushed after it are dropped, not an error,
      // and do not take the rest of the batch down with them.
      const other = await twoMappings(store, 'bob');
      await store.traffic.add([
        { mappingId: a, licenseId, at: at('2025-01-01T00:01:00Z'), bytesIn: 1, bytesOut: 1 },
        {
          mappingId: other.a,
          licenseId: other.licenseId,
          at: at('2025-01-01T00:01:00Z'),
          bytesIn: 2,
          bytesOut: 3,
        },
      ]);
      assert.deepEqual(await store.traffic.totals({ granularity: 'minute' }), { bytesIn: 2n, bytesOut: 3n });
    });
  });
}

export function logTests(h: StoreHarness): void {
  describe('logs', () => {
    test('client connections: opened, closed once, listed newest first with filters, pruned', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const owner = await user(store);
      const lab = await license(store, owner.id, 'lab');
      const home = await license(store, owner.id, 'home');
      const first = await store.connections.opened({
        licenseId: lab.id,
        licenseName: 'lab',
        remoteAddress: '192.0.2.1',
      });
      assert.deepEqual(first, {
        id: first.id,
        licenseId: lab.id,
        licenseName: 'lab',
        remoteAddress: '192.0.2.1',
        connectedAt: clock.now(),
        disconnectedAt: null,
        closeCode: null,
      });
      clock.advance(60_000);
      await store.connections.closed(first.id, { code: 'MUON_ERR_HEARTBEAT_TIMEOUT' });
      const closedAt = clock.now();
      clock.advance(60_000);
      await store.connections.closed(first.id, { code: 'MUON_ERR_SHUTDOWN' }); // no effect
      const second = await store.connections.opened({
        licenseId: home.id,
        licenseName: 'home',
        remoteAddress: '::1',
      });
      clock.advance(60_000);
      await store.connections.opened({ licenseId: lab.id, licenseName: 'lab', remoteAddress: '192.0.2.1' });

      const all = await store.connections.list();
      assert.equal(all.total, 3);
      assert.equal(all.items[2]?.id, first.id, 'newest first');
      assert.deepEqual(all.items[2]?.disconnectedAt, closedAt);
      assert.equal(all.items[2]?.closeCode, 'MUON_ERR_HEARTBEAT_TIMEOUT');
      assert.equal((await store.connections.list({ licenseId: lab.id })).total, 2);
      assert.equal((await store.connections.list({ open: true })).total, 2);
      assert.equal((await store.connections.list({ open: false })).total, 1);
      assert.equal((await store.connections.list({ from: second.connectedAt })).total, 2);
      assert.equal((await store.connections.list({ to: second.connectedAt })).total, 1);
      assert.equal((await store.connections.list({ limit: 1, offset: 1 })).items[0]?.id, second.id);

      assert.equal(await store.connections.closeAllOpen(), 2);
      assert.equal((await store.connections.list({ open: true })).total, 0);
      await store.licenses.delete(home.id);
      const kept = (await store.connections.list({ to: clock.now() })).items.find((c) => c.id === second.id);
      assert.equal(kept?.licenseId, null, 'the entry outlives its license');
      assert.equal(kept?.licenseName, 'home');
      assert.equal(await store.connections.prune(second.connectedAt), 1);
      assert.equal((await store.connections.list()).total, 2);
    });

    test('admin logins: recorded, filtered, failures counted, pruned', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const admin = await user(store, 'root', 'admin');
      await store.logins.record({
        username: 'root',
        remoteAddress: '192.0.2.9',
        success: false,
        reason: 'bad password',
      });
      clock.advance(1000);
      await store.logins.record({
        username: 'ghost',
        remoteAddress: '192.0.2.9',
        success: false,
        userId: null,
      });
      clock.advance(1000);
      const ok = await store.logins.record({
        userId: admin.id,
        username: 'root',
        remoteAddress: '192.0.2.8',
        success: true,
      });
      assert.deepEqual(ok, {
        id: ok.id,
        userId: admin.id,
        username: 'root',
        remoteAddress: '192.0.2.8',
        success: true,
        reason: null,
        at: clock.now(),
      });
      const all = await store.logins.list();
      assert.equal(all.total, 3);
      assert.equal(all.items[0]?.id, ok.id, 'newest first');
      assert.equal((await store.logins.list({ success: false })).total, 2);
      assert.equal((await store.logins.list({ username: 'root' })).total, 2);
      assert.equal((await store.logins.list({ userId: admin.id })).total, 1);
      assert.equal((await store.logins.list({ from: ok.at })).total, 1);
      const since = new Date(clock.now().getTime() - 5000);
      assert.equal(await store.logins.countFailures({ since, remoteAddress: '192.0.2.9' }), 2);
      assert.equal(await store.logins.countFailures({ since, username: 'root' }), 1);
      assert.equal(await store.logins.countFailures({ since: clock.now() }), 0);
      await store.users.delete(admin.id);
      assert.equal((await store.logins.list({ username: 'root', success: true })).items[0]?.userId, null);
      assert.equal(await store.logins.prune(ok.at), 2);
    });
  });
}
