// Users and licenses: create, read, list with filters and pages, update, delete, and the
// conflicts each refuses with a stable code.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keyIdOf } from '../../../src/protocol/handshake.ts';
import { key, license, manualClock, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

export function userTests(h: StoreHarness): void {
  describe('users', () => {
    test('create, get, find for login, update and delete', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const created = await store.users.create({ username: 'Alice', passwordHash: 'h1', role: 'admin' });
      assert.deepEqual(created, {
        id: created.id,
        username: 'Alice',
        role: 'admin',
        enabled: true,
        canLogIn: true,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      });
      assert.deepEqual(await store.users.get(created.id), created);
      assert.deepEqual(await store.users.getByUsername('alice'), created, 'names match in any case');
      assert.deepEqual(await store.users.findForLogin('ALICE'), { user: created, passwordHash: 'h1' });
      assert.equal(await store.users.get(created.id + 100), undefined);
      assert.equal(await store.users.findForLogin('nobody'), undefined);

      clock.advance(1000);
      const updated = await store.users.update(created.id, {
        passwordHash: 'h2',
        enabled: false,
        role: 'user',
      });
      assert.equal(updated.enabled, false);
      assert.equal(updated.role, 'user');
      assert.deepEqual(updated.createdAt, created.createdAt);
      assert.deepEqual(updated.updatedAt, clock.now());
      assert.equal((await store.users.findForLogin('alice'))?.passwordHash, 'h2');
      const noPassword = await store.users.update(created.id, { passwordHash: null });
      assert.equal(noPassword.canLogIn, false);

      await store.users.delete(created.id);
      assert.equal(await store.users.get(created.id), undefined);
      await rejectsWith(store.users.delete(created.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.users.update(created.id, { enabled: true }), 'MUON_ERR_NOT_FOUND');
    });

    test('user names are unique in any case; invalid ones are refused', async (t) => {
      const store = await h.store(t);
      const alice = await user(store, 'alice');
      const bob = await user(store, 'bob');
      const taken = await rejectsWith(user(store, 'ALICE'), 'MUON_ERR_CONFLICT');
      assert.match(taken.message, /^username: /);
      await rejectsWith(store.users.update(bob.id, { username: 'Alice' }), 'MUON_ERR_CONFLICT');
      await rejectsWith(user(store, ''), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(user(store, ' padded '), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(
        store.users.create({ username: 'eve', passwordHash: null, role: 'root' as 'admin' }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal((await store.users.get(alice.id))?.username, 'alice');
    });

    test('list filters by role, enabled and name, and pages', async (t) => {
      const store = await h.store(t);
      for (let i = 0; i < 7; i++) await user(store, `user${i}`, i < 2 ? 'admin' : 'user');
      await user(store, 'odd_100%');
      const [, third] = (await store.users.list({ limit: 3 })).items;
      assert.ok(third);
      await store.users.update(third.id, { enabled: false });

      const first = await store.users.list({ limit: 3 });
      assert.equal(first.total, 8);
      assert.deepEqual(
        first.items.map((u) => u.username),
        ['user0', 'user1', 'user2'],
      );
      const last = await store.users.list({ limit: 3, offset: 6 });
      assert.deepEqual(
        last.items.map((u) => u.username),
        ['user6', 'odd_100%'],
      );
      assert.equal((await store.users.list({ role: 'admin' })).total, 2);
      assert.equal((await store.users.list({ enabled: false })).total, 1);
      assert.equal((await store.users.list({ search: 'USER' })).total, 7);
      assert.deepEqual(
        (await store.users.list({ search: '_100%' })).items.map((u) => u.username),
        ['odd_100%'],
        'search text is literal, not a LIKE pattern',
      );
      assert.equal((await store.users.list({ search: 'r_' })).total, 0);
      assert.equal(await store.users.countAdmins(), 2);
      assert.equal(await store.users.countAdmins({ enabled: true }), 1);
      await rejectsWith(store.users.list({ limit: 0 }), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(store.users.list({ limit: 501 }), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(store.users.list({ offset: -1 }), 'MUON_ERR_INVALID_INPUT');
    });
  });
}

export function licenseTests(h: StoreHarness): void {
  describe('licenses', () => {
    test('create with a given or generated key, find by key id, update, reset key, delete', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const alice = await user(store);
      const lab = await store.licenses.create({
        ownerId: alice.id,
        name: 'lab',
        key: key('lab'),
        uploadLimit: 1_000_000,
      });
      assert.deepEqual(lab, {
        id: lab.id,
        ownerId: alice.id,
        name: 'lab',
        key: key('lab'),
        keyId: keyIdOf(key('lab')).toString('hex'),
        enabled: true,
        uploadLimit: 1_000_000,
        downloadLimit: null,
        maxConnections: null,
        online: false,
        lastSeenAt: null,
        description: null,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      });
      const generated = await store.licenses.create({ ownerId: alice.id, name: 'generated' });
      assert.match(generated.key, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await store.licenses.getByKeyId(lab.keyId.toUpperCase()), lab);
      assert.deepEqual(await store.licenses.getByName(alice.id, 'lab'), lab);

      clock.advance(5000);
      const updated = await store.licenses.update(lab.id, {
        name: 'lab-2',
        enabled: false,
        uploadLimit: null,
        downloadLimit: 2048,
        maxConnections: 50,
        description: 'moved',
      });
      assert.equal(updated.name, 'lab-2');
      assert.equal(updated.maxConnections, 50);
      assert.equal(
        (await store.licenses.update(lab.id, {})).maxConnections,
        50,
        'kept when not in the patch',
      );
      assert.equal((await store.licenses.update(lab.id, { maxConnections: null })).maxConnections, null);
      const limited = await store.licenses.create({ ownerId: alice.id, name: 'limited', maxConnections: 3 });
      assert.equal((await store.licenses.get(limited.id))?.maxConnections, 3);
      assert.equal(updated.enabled, false);
      assert.equal(updated.uploadLimit, null);
      assert.equal(updated.downloadLimit, 2048);
      assert.equal(updated.description, 'moved');
      assert.deepEqual(updated.updatedAt, clock.now());

      const reset = await store.licenses.resetKey(lab.id);
      assert.notEqual(reset.key, lab.key);
      assert.equal(reset.keyId, keyIdOf(reset.key).toString('hex'));
      assert.equal(await store.licenses.getByKeyId(lab.keyId), undefined, 'the old key finds nothing');

      await store.licenses.delete(lab.id);
      assert.equal(await store.licenses.get(lab.id), undefined);
      await rejectsWith(store.licenses.delete(lab.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.licenses.update(lab.id, { enabled: true }), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.licenses.resetKey(lab.id), 'MUON_ERR_NOT_FOUND');
    });

    test('conflicts: a name twice for one owner, a key twice anywhere; an unknown owner', async (t) => {
      const store = await h.store(t);
      const alice = await user(store, 'alice');
      const bob = await user(store, 'bob');
      const lab = await license(store, alice.id, 'lab');
      const sameName = await rejectsWith(
        store.licenses.create({ ownerId: alice.id, name: 'lab', key: key('fresh') }),
        'MUON_ERR_CONFLICT',
      );
      assert.match(sameName.message, /^name: /);
      await license(store, bob.id, 'lab'); // another owner may use the name
      const sameKey = await rejectsWith(
        store.licenses.create({ ownerId: bob.id, name: 'other', key: lab.key }),
        'MUON_ERR_CONFLICT',
      );
      assert.match(sameKey.message, /^key: /);
      assert.doesNotMatch(sameKey.message, new RegExp(lab.key), 'the key is not echoed');
      const other = await license(store, alice.id, 'other');
      await rejectsWith(store.licenses.resetKey(other.id, lab.key), 'MUON_ERR_CONFLICT');
      await rejectsWith(store.licenses.update(other.id, { name: 'lab' }), 'MUON_ERR_CONFLICT');
      await rejectsWith(license(store, 9999, 'orphan'), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(
        store.licenses.create({ ownerId: alice.id, name: 'x', key: 'short' }),
        'MUON_ERR_INVALID_INPUT',
      );
      await rejectsWith(store.licenses.create({ ownerId: alice.id, name: '' }), 'MUON_ERR_INVALID_INPUT');
      await rejectsWith(store.licenses.update(other.id, { uploadLimit: 0 }), 'MUON_ERR_INVALID_INPUT');
      for (const maxConnections of [0, -1, 1.5, 2 ** 31]) {
        const error = await rejectsWith(
          store.licenses.update(other.id, { maxConnections }),
          'MUON_ERR_INVALID_INPUT',
        );
        assert.match(error.message, /^maxConnections: /);
      }
    });

    test('list filters by owner, enabled, online and name, and pages', async (t) => {
      const store = await h.store(t);
      const alice = await user(store, 'alice');
      const bob = await user(store, 'bob');
      for (let i = 0; i < 5; i++) await license(store, alice.id, `a${i}`);
      const b0 = await license(store, bob.id, 'b0');
      await store.licenses.update(b0.id, { enabled: false });
      await store.licenses.setOnline(b0.id, true);

      assert.equal((await store.licenses.list()).total, 6);
      const page = await store.licenses.list({ ownerId: alice.id, limit: 2, offset: 2 });
      assert.equal(page.total, 5);
      assert.deepEqual(
        page.items.map((l) => l.name),
        ['a2', 'a3'],
      );
      assert.deepEqual(
        (await store.licenses.list({ enabled: false })).items.map((l) => l.name),
        ['b0'],
      );
      assert.deepEqual(
        (await store.licenses.list({ online: true })).items.map((l) => l.name),
        ['b0'],
      );
      assert.equal((await store.licenses.list({ search: 'A' })).total, 5);
      assert.deepEqual(
        (await store.licenses.listByOwner(bob.id)).map((l) => l.id),
        [b0.id],
      );
    });

    test('online flag and last seen; all marked offline at start', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const alice = await user(store);
      const lab = await license(store, alice.id);
      clock.advance(60_000);
      await store.licenses.setOnline(lab.id, true);
      let read = await store.licenses.get(lab.id);
      assert.equal(read?.online, true);
      assert.deepEqual(read?.lastSeenAt, clock.now());
      assert.deepEqual(read?.updatedAt, lab.updatedAt, 'presence is not a configuration change');
      assert.equal(await store.licenses.markAllOffline(), 1);
      read = await store.licenses.get(lab.id);
      assert.equal(read?.online, false);
      assert.deepEqual(read?.lastSeenAt, clock.now(), 'last seen stays');
    });

    test('deleting a user deletes their licenses', async (t) => {
      const store = await h.store(t);
      const alice = await user(store);
      const lab = await license(store, alice.id);
      await store.users.delete(alice.id);
      assert.equal(await store.licenses.get(lab.id), undefined);
    });
  });
}
