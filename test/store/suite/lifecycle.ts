// Opening and closing: idempotent close, a closed store refuses work with a stable code, and
// (per dialect) where the data lives and how the connection is set up.

import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { openStore } from '../../../src/store/store.ts';
import { license, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

export function lifecycleTests(h: StoreHarness): void {
  describe('lifecycle', () => {
    test('close is idempotent; a closed store refuses work with MUON_ERR_STORE_UNAVAILABLE', async (t) => {
      const store = await h.store(t);
      const alice = await user(store);
      const first = store.close();
      const second = store.close();
      assert.equal(first, second);
      await first;
      await store[Symbol.asyncDispose]();
      assert.equal(store.closed, true);
      await rejectsWith(store.users.get(alice.id), 'MUON_ERR_STORE_UNAVAILABLE');
      await rejectsWith(
        store.licenses.create({ ownerId: alice.id, name: 'x' }),
        'MUON_ERR_STORE_UNAVAILABLE',
      );
      await rejectsWith(
        store.transaction(async () => {}),
        'MUON_ERR_STORE_UNAVAILABLE',
      );
    });

    test('64-bit integers come back as bigint from the driver, never as rounded numbers', async (t) => {
      const store = await h.store(t);
      const query = sql<{ n: unknown }>`select cast(9007199254740993 as bigint) as n`.execute(store.db);
      if (h.dialect === 'sqlite') {
        // node:sqlite refuses, rather than rounds, an integer a number cannot hold; the
        // repositories read counters as text for that reason.
        await assert.rejects(query, /too large/);
        return;
      }
      assert.equal((await query).rows[0]?.n, 9007199254740993n);
    });

    if (h.dialect === 'sqlite') {
      test('SQLite: <dataDir>/muon.db, owner-only, WAL journal, foreign keys on, data kept across opens', async (t) => {
        const parent = await mkdtemp(join(tmpdir(), 'muon-store-'));
        t.after(() => rm(parent, { recursive: true, force: true }));
        const dataDir = join(parent, 'data');
        const store = await openStore({ dataDir });
        t.after(() => store.close());
        assert.equal(store.kind, 'sqlite');
        assert.equal(store.location, join(dataDir, 'muon.db'));
        assert.equal((await stat(join(dataDir, 'muon.db'))).mode & 0o777, 0o600);
        assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
        const pragma = async (name: string) =>
          Object.values((await sql.raw(`pragma ${name}`).execute(store.db)).rows[0] as object)[0];
        assert.equal(await pragma('journal_mode'), 'wal');
        assert.equal(await pragma('foreign_keys'), 1);
        assert.equal(await pragma('busy_timeout'), 5000);
        const alice = await user(store);
        await license(store, alice.id);
        await store.close();
        const again = await openStore({ dataDir });
        t.after(() => again.close());
        assert.equal((await again.licenses.list()).total, 1);
        assert.deepEqual(again.migration.applied, []);
      });
    }

    if (h.dialect === 'pglite') {
      test('PGlite through a pglite: URL, in memory', async (t) => {
        const store = await openStore({ dataDir: '.', url: 'pglite:memory' });
        t.after(() => store.close());
        assert.equal(store.kind, 'pglite');
        assert.equal(store.dialect, 'postgres');
        await user(store);
        assert.equal((await store.users.list()).total, 1);
      });
    }
  });
}
