// The port pool (non-overlapping ranges) and port groups with their global, per-user and
// per-license assignments, which decide the ports a license may use.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { license, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

export function portTests(h: StoreHarness): void {
  describe('port pool', () => {
    test('single ports and ranges; overlaps are refused; update and delete', async (t) => {
      const store = await h.store(t);
      const single = await store.portPool.create({ portStart: 2222, description: 'ssh' });
      assert.equal(single.portEnd, 2222);
      const range = await store.portPool.create({ portStart: 10_000, portEnd: 10_099 });
      for (const [portStart, portEnd] of [
        [2222, 2222],
        [2200, 2300],
        [10_099, 10_200],
        [9_000, 10_000],
        [10_010, 10_020],
      ] as const) {
        const error = await rejectsWith(store.portPool.create({ portStart, portEnd }), 'MUON_ERR_CONFLICT');
        assert.match(error.message, /overlap/);
      }
      await store.portPool.create({ portStart: 10_100, portEnd: 10_199 }); // adjacent is fine
      assert.deepEqual((await store.portPool.find(10_050))?.id, range.id);
      assert.equal(await store.portPool.find(3000), undefined);

      const grown = await store.portPool.update(range.id, { portEnd: 10_099, portStart: 9_900 });
      assert.deepEqual([grown.portStart, grown.portEnd], [9_900, 10_099]);
      await rejectsWith(store.portPool.update(range.id, { portEnd: 10_150 }), 'MUON_ERR_CONFLICT');
      await rejectsWith(store.portPool.update(range.id, { portStart: 20_000 }), 'MUON_ERR_INVALID_INPUT');
      await store.portPool.delete(single.id);
      await rejectsWith(store.portPool.delete(single.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.portPool.update(single.id, { portStart: 1 }), 'MUON_ERR_NOT_FOUND');
    });

    test('ports are validated', async (t) => {
      const store = await h.store(t);
      for (const [portStart, portEnd] of [
        [0, 10],
        [10, 65_536],
        [20, 10],
        [1.5, 2],
      ] as const) {
        await rejectsWith(store.portPool.create({ portStart, portEnd }), 'MUON_ERR_INVALID_INPUT');
      }
      await rejectsWith(store.portPool.create({ portStart: 80, groupId: 9999 }), 'MUON_ERR_NOT_FOUND');
    });

    test('list filters by group (or none) and port, ordered by port, paged', async (t) => {
      const store = await h.store(t);
      const group = await store.portGroups.create({ name: 'web' });
      await store.portPool.create({ portStart: 8000, portEnd: 8099, groupId: group.id });
      await store.portPool.create({ portStart: 443, groupId: group.id });
      await store.portPool.create({ portStart: 80 });
      const all = await store.portPool.list({ limit: 2 });
      assert.equal(all.total, 3);
      assert.deepEqual(
        all.items.map((r) => r.portStart),
        [80, 443],
      );
      assert.equal((await store.portPool.list({ groupId: group.id })).total, 2);
      assert.deepEqual(
        (await store.portPool.list({ groupId: null })).items.map((r) => r.portStart),
        [80],
      );
      assert.deepEqual(
        (await store.portPool.list({ port: 8050 })).items.map((r) => r.portStart),
        [8000],
      );
    });
  });

  describe('port groups', () => {
    test('CRUD; a deleted group leaves its ranges in the pool and takes its assignments', async (t) => {
      const store = await h.store(t);
      const web = await store.portGroups.create({ name: 'web', description: 'http ports' });
      await rejectsWith(store.portGroups.create({ name: 'web' }), 'MUON_ERR_CONFLICT');
      const other = await store.portGroups.create({ name: 'other' });
      await rejectsWith(store.portGroups.update(other.id, { name: 'web' }), 'MUON_ERR_CONFLICT');
      assert.equal((await store.portGroups.update(web.id, { description: null })).description, null);
      assert.equal((await store.portGroups.get(web.id))?.name, 'web');
      assert.equal((await store.portGroups.list({ search: 'WE' })).total, 1);
      assert.equal((await store.portGroups.list({ limit: 1, offset: 1 })).items[0]?.name, 'other');

      const range = await store.portPool.create({ portStart: 8080, groupId: web.id });
      await store.portGroups.assign(web.id, { scope: 'global' });
      await store.portGroups.delete(web.id);
      assert.equal((await store.portPool.get(range.id))?.groupId, null);
      assert.deepEqual(await store.portGroups.assignments(), []);
      await rejectsWith(store.portGroups.delete(web.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.portGroups.update(web.id, { name: 'x' }), 'MUON_ERR_NOT_FOUND');
    });

    test('assignments decide which pool ports a license may use', async (t) => {
      const store = await h.store(t);
      const alice = await user(store, 'alice');
      const bob = await user(store, 'bob');
      const aliceLab = await license(store, alice.id, 'lab');
      const aliceHome = await license(store, alice.id, 'home');
      const bobLab = await license(store, bob.id, 'lab');
      const everyone = await store.portGroups.create({ name: 'everyone' });
      const alices = await store.portGroups.create({ name: 'alice' });
      const labOnly = await store.portGroups.create({ name: 'lab only' });
      const nobody = await store.portGroups.create({ name: 'nobody' });
      await store.portPool.create({ portStart: 10_000, portEnd: 10_009, groupId: everyone.id });
      await store.portPool.create({ portStart: 20_000, portEnd: 20_009, groupId: alices.id });
      await store.portPool.create({ portStart: 30_000, groupId: labOnly.id });
      await store.portPool.create({ portStart: 40_000, groupId: nobody.id });
      await store.portPool.create({ portStart: 50_000 });

      const global = await store.portGroups.assign(everyone.id, { scope: 'global' });
      assert.deepEqual([global.scope, global.userId, global.licenseId], ['global', null, null]);
      const toAlice = await store.portGroups.assign(alices.id, { scope: 'user', userId: alice.id });
      await store.portGroups.assign(labOnly.id, { scope: 'license', licenseId: aliceLab.id });

      const ports = async (licenseId: number) =>
        (await store.portGroups.allowedRanges(licenseId)).map((r) => `${r.portStart}-${r.portEnd}`);
      assert.deepEqual(await ports(aliceLab.id), ['10000-10009', '20000-20009', '30000-30000']);
      assert.deepEqual(await ports(aliceHome.id), ['10000-10009', '20000-20009']);
      assert.deepEqual(await ports(bobLab.id), ['10000-10009']);
      assert.equal(await store.portGroups.isPortAllowed(aliceLab.id, 30_000), true);
      assert.equal(await store.portGroups.isPortAllowed(aliceHome.id, 30_000), false);
      assert.equal(await store.portGroups.isPortAllowed(bobLab.id, 20_005), false);
      assert.equal(await store.portGroups.isPortAllowed(aliceLab.id, 40_000), false);
      assert.equal(await store.portGroups.isPortAllowed(aliceLab.id, 50_000), false);

      await rejectsWith(store.portGroups.assign(everyone.id, { scope: 'global' }), 'MUON_ERR_CONFLICT');
      await rejectsWith(
        store.portGroups.assign(alices.id, { scope: 'user', userId: alice.id }),
        'MUON_ERR_CONFLICT',
      );
      await store.portGroups.assign(alices.id, { scope: 'user', userId: bob.id });
      await rejectsWith(
        store.portGroups.assign(alices.id, { scope: 'user', userId: 9999 }),
        'MUON_ERR_NOT_FOUND',
      );
      await rejectsWith(store.portGroups.assign(9999, { scope: 'global' }), 'MUON_ERR_NOT_FOUND');
      assert.equal((await store.portGroups.assignments({ groupId: alices.id })).length, 2);
      assert.equal((await store.portGroups.assignments({ scope: 'license' })).length, 1);
      assert.equal((await store.portGroups.assignments({ licenseId: aliceLab.id })).length, 1);

      await store.portGroups.unassign(toAlice.id);
      assert.deepEqual(await ports(aliceHome.id), ['10000-10009']);
      await rejectsWith(store.portGroups.unassign(toAlice.id), 'MUON_ERR_NOT_FOUND');
      await store.licenses.delete(aliceLab.id);
      assert.equal(
        (await store.portGroups.assignments({ scope: 'license' })).length,
        0,
        'cascades with the license',
      );
    });
  });
}
