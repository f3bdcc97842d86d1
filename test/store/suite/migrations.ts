// Migrations: from an empty database, from every earlier version with its data kept, refusal of
// a newer schema, one transaction per migration, and two servers migrating at once.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { MuonError } from '../../../src/errors.ts';
import type { Migration } from '../../../src/store/migrations/index.ts';
import { LATEST_VERSION, MIGRATIONS } from '../../../src/store/migrations/index.ts';
import { appliedMigrations, currentVersion, migrate } from '../../../src/store/migrator.ts';
import type { Database } from '../../../src/store/schema.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { key, rejectsWith } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

const T0 = '2024-06-01T12:00:00.000Z';

/**
 * Rows as a database at `version` held them, written with the columns that version had. When a
 * later migration changes one of these tables, keep these inserts as they are (they describe the
 * old schema) and extend check() with what the migration should have made of them.
 */
async function seed(db: Kysely<Database>, version: number): Promise<void> {
  const at = { created_at: T0, updated_at: T0 };
  if (version >= 1) {
    await db
      .insertInto('users')
      .values([
        { id: 1, username: 'Alice', password_hash: 'hash-a', role: 'admin', enabled: true, ...at },
        { id: 2, username: 'bob', password_hash: null, role: 'user', enabled: false, ...at },
      ])
      .execute();
    await db
      .insertInto('licenses')
      .values({
        id: 1,
        owner_id: 1,
        name: 'lab',
        key: key('seed'),
        key_id: 'placeholder-not-checked',
        enabled: true,
        upload_limit: 1000,
        download_limit: null,
        online: true,
        last_seen_at: T0,
        description: 'the lab',
        ...at,
      })
      .execute();
  }
  if (version >= 2) {
    await db
      .insertInto('security_groups')
      .values({ id: 1, name: 'office', description: null, ...at })
      .execute();
    await db
      .insertInto('security_group_rules')
      .values({
        id: 1,
        group_id: 1,
        action: 'allow',
        cidr: '10.0.0.0/8',
        priority: 10,
        description: null,
        ...at,
      })
      .execute();
    await db
      .insertInto('port_mappings')
      .values([
        {
          id: 1,
          license_id: 1,
          protocol: 'tcp',
          port_family: 'tcp',
          public_port: 2222,
          domain: null,
          target_host: '127.0.0.1',
          target_port: 22,
          enabled: true,
          upload_limit: null,
          download_limit: 500,
          security_group_id: 1,
          description: 'ssh',
          ...at,
        },
        {
          id: 2,
          license_id: 1,
          protocol: 'https',
          port_family: 'tcp',
          public_port: null,
          domain: 'app.example.com',
          target_host: 'app.internal',
          target_port: 8443,
          enabled: false,
          upload_limit: null,
          download_limit: null,
          security_group_id: null,
          description: null,
          ...at,
        },
      ])
      .execute();
  }
  if (version >= 3) {
    await db
      .insertInto('port_groups')
      .values({ id: 1, name: 'default', description: null, ...at })
      .execute();
    await db
      .insertInto('port_pool')
      .values({ id: 1, group_id: 1, port_start: 10000, port_end: 10099, description: null, ...at })
      .execute();
    await db
      .insertInto('port_group_assignments')
      .values({ id: 1, group_id: 1, scope: 'user', user_id: 2, license_id: null, ...at })
      .execute();
  }
  if (version >= 4) {
    await db
      .insertInto('traffic_stats')
      .values({
        mapping_id: 1,
        license_id: 1,
        granularity: 'minute',
        bucket_start: T0,
        bytes_in: 2n ** 60n,
        bytes_out: 7n,
      })
      .execute();
    await db
      .insertInto('client_connections')
      .values({ license_id: 1, license_name: 'lab', remote_address: '192.0.2.1', connected_at: T0 })
      .execute();
    await db
      .insertInto('admin_logins')
      .values({ user_id: 1, username: 'Alice', remote_address: '192.0.2.2', success: true, created_at: T0 })
      .execute();
  }
  if (version >= 5) {
    await db
      .insertInto('licenses')
      .values({
        id: 2,
        owner_id: 2,
        name: 'limited',
        key: key('seed-5'),
        key_id: 'placeholder-5',
        enabled: true,
        upload_limit: null,
        download_limit: 2048,
        max_connections: 10,
        online: false,
        last_seen_at: null,
        description: null,
        ...at,
      })
      .execute();
    await db
      .insertInto('security_groups')
      .values({ id: 2, name: 'closed', description: null, default_action: 'deny', ...at })
      .execute();
    await db
      .insertInto('port_mappings')
      .values({
        id: 3,
        license_id: 2,
        protocol: 'tcp',
        port_family: 'tcp',
        public_port: 3333,
        domain: null,
        target_host: 'db',
        target_port: 5432,
        enabled: true,
        upload_limit: 4096,
        download_limit: null,
        max_connections: 2,
        security_group_id: 2,
        description: null,
        ...at,
      })
      .execute();
  }
  if (version >= 6) {
    await db
      .insertInto('port_mappings')
      .values({
        id: 4,
        license_id: 2,
        protocol: 'tcp',
        port_family: 'tcp',
        public_port: 3334,
        domain: null,
        target_host: 'web',
        target_port: 8080,
        enabled: true,
        upload_limit: null,
        download_limit: null,
        max_connections: null,
        security_group_id: null,
        proxy_protocol: 'v2',
        description: null,
        ...at,
      })
      .execute();
  }
  if (version >= 7) {
    await db
      .insertInto('domains')
      .values({
        id: 1,
        name: 'example.com',
        certificate_pem: null,
        private_key_pem: null,
        force_https: true,
        enabled: true,
        description: null,
        ...at,
      })
      .execute();
    await db
      .insertInto('port_mappings')
      .values({
        id: 5,
        license_id: 1,
        protocol: 'http',
        port_family: 'tcp',
        public_port: null,
        domain: 'web.example.com',
        target_host: 'web',
        target_port: 80,
        enabled: true,
        upload_limit: null,
        download_limit: null,
        max_connections: null,
        security_group_id: null,
        proxy_protocol: null,
        add_forwarded_headers: true,
        rewrite_host: false,
        basic_auth_username: 'u',
        basic_auth_hash: '$argon2id$seed',
        description: null,
        ...at,
      })
      .execute();
    await db
      .insertInto('mapping_hosts')
      .values([
        { mapping_id: 5, domain_id: 1, protocol: 'http', hostname: 'web.example.com', created_at: T0 },
        { mapping_id: 5, domain_id: 1, protocol: 'http', hostname: '*.web.example.com', created_at: T0 },
      ])
      .execute();
  }
  if (version >= 8) {
    await db
      .insertInto('domains')
      .values({
        id: 2,
        name: 'acme.example.net',
        certificate_pem: null,
        private_key_pem: null,
        force_https: false,
        enabled: true,
        description: null,
        acme: true,
        acme_status: JSON.stringify({ state: 'failed', names: ['acme.example.net'], failures: 3 }),
        ...at,
      })
      .execute();
    await db
      .insertInto('acme_accounts')
      .values({
        directory_url: 'https://ca.example/dir',
        key_pem: 'seed key',
        account_url: 'https://ca.example/acct/7',
        email: null,
        ...at,
      })
      .execute();
  }
  if (version >= 9) throw new Error(`seed() does not know version ${version} yet: add its rows`);
}

/** What seed(version) wrote, read back through the repositories after migrating to the latest. */
async function check(store: Store, version: number): Promise<void> {
  const t0 = new Date(T0);
  if (version >= 1) {
    const alice = await store.users.getByUsername('alice');
    assert.deepEqual(alice, {
      id: 1,
      username: 'Alice',
      role: 'admin',
      enabled: true,
      canLogIn: true,
      createdAt: t0,
      updatedAt: t0,
    });
    assert.equal((await store.users.findForLogin('ALICE'))?.passwordHash, 'hash-a');
    assert.equal((await store.users.get(2))?.enabled, false);
    const lab = await store.licenses.get(1);
    assert.ok(lab);
    assert.equal(lab.key, key('seed'));
    assert.equal(lab.uploadLimit, 1000);
    assert.equal(lab.downloadLimit, null);
    assert.equal(lab.online, true);
    assert.deepEqual(lab.lastSeenAt, t0);
    assert.equal(lab.description, 'the lab');
  }
  if (version >= 2) {
    assert.deepEqual(
      (await store.securityGroups.rules(1)).map((r) => [r.action, r.cidr, r.priority]),
      [['allow', '10.0.0.0/8', 10]],
    );
    const ssh = await store.mappings.get(1);
    assert.equal(ssh?.publicPort, 2222);
    assert.equal(ssh?.securityGroupId, 1);
    assert.equal(ssh?.downloadLimit, 500);
    const app = await store.mappings.get(2);
    assert.equal(app?.domain, 'app.example.com');
    assert.equal(app?.publicPort, null);
    assert.equal(app?.enabled, false);
  }
  if (version >= 3) {
    assert.deepEqual((await store.portPool.find(10050))?.groupId, 1);
    assert.deepEqual(
      (await store.portGroups.allowedRanges(1)).length,
      0,
      'the group is assigned to bob, not to the owner of license 1',
    );
    assert.equal((await store.portGroups.assignments({ userId: 2 })).length, 1);
  }
  if (version >= 4) {
    const totals = await store.traffic.totals({ mappingId: 1, granularity: 'minute' });
    assert.deepEqual(totals, { bytesIn: 2n ** 60n, bytesOut: 7n });
    assert.equal((await store.connections.list()).total, 1);
    assert.equal((await store.logins.list({ userId: 1 })).total, 1);
  }
  if (version >= 2) {
    // Rows from before version 5 are unlimited and their groups allow by default.
    assert.equal((await store.licenses.get(1))?.maxConnections, null);
    assert.equal((await store.mappings.get(1))?.maxConnections, null);
    assert.equal((await store.securityGroups.get(1))?.defaultAction, 'allow');
  }
  if (version >= 5) {
    const limited = await store.licenses.get(2);
    assert.equal(limited?.maxConnections, 10);
    assert.equal(limited?.downloadLimit, 2048);
    const db = await store.mappings.get(3);
    assert.equal(db?.maxConnections, 2);
    assert.equal(db?.uploadLimit, 4096);
    assert.equal((await store.securityGroups.get(2))?.defaultAction, 'deny');
  }
  if (version >= 2) {
    // Mappings from before version 6 send no PROXY protocol header.
    assert.equal((await store.mappings.get(1))?.proxyProtocol, null);
  }
  if (version >= 6) assert.equal((await store.mappings.get(4))?.proxyProtocol, 'v2');
  if (version >= 2) {
    // Mappings from before version 7 have no host names and no HTTP options.
    const app = await store.mappings.get(2);
    assert.deepEqual(app?.hostnames, []);
    assert.equal(app?.addForwardedHeaders, false);
    assert.equal(app?.basicAuth, null);
  }
  if (version >= 7) {
    const example = await store.domains.get(1);
    assert.equal(example?.name, 'example.com');
    assert.equal(example?.forceHttps, true);
    assert.equal(example?.certificate, null);
    const web = await store.mappings.get(5);
    assert.deepEqual(web?.hostnames, ['web.example.com', '*.web.example.com']);
    assert.equal(web?.addForwardedHeaders, true);
    assert.deepEqual(web?.basicAuth, { username: 'u' });
    // Domains from before version 8 take uploaded certificates.
    assert.equal(example?.acme, false);
    assert.equal(example?.acmeStatus, null);
  }
  if (version >= 8) {
    const acme = await store.domains.get(2);
    assert.equal(acme?.acme, true);
    assert.equal(acme?.acmeStatus?.state, 'failed');
    assert.equal(acme?.acmeStatus?.failures, 3);
    assert.deepEqual(acme?.acmeStatus?.skipped, [], 'fields a status lacks read as pending ones');
    const account = await store.acme.account('https://ca.example/dir', async () => 'not used');
    assert.deepEqual(account, { keyPem: 'seed key', accountUrl: 'https://ca.example/acct/7', email: null });
  }
}

export function migrationTests(h: StoreHarness): void {
  describe('migrations', () => {
    test('an empty database is migrated to the latest version, one recorded row per migration', async (t) => {
      const database = await h.database(t);
      const store = await database.open();
      assert.deepEqual(store.migration, {
        from: 0,
        to: LATEST_VERSION,
        applied: MIGRATIONS.map((m) => m.version),
      });
      const rows = await appliedMigrations(store.db);
      assert.deepEqual(
        rows.map((r) => [r.version, r.name]),
        MIGRATIONS.map((m) => [m.version, m.name]),
      );
      for (const row of rows)
        assert.ok(row.appliedAt instanceof Date && !Number.isNaN(row.appliedAt.getTime()));
      // An empty database stays usable: every repository answers.
      assert.equal((await store.users.list()).total, 0);
      assert.equal((await store.mappings.list()).total, 0);
      assert.deepEqual(await store.traffic.series({ granularity: 'minute' }), []);
    });

    test('opening a migrated database again applies nothing', async (t) => {
      const database = await h.database(t);
      await migrate(database.connection.db, database.connection.dialect);
      const store = await database.open();
      assert.deepEqual(store.migration, { from: LATEST_VERSION, to: LATEST_VERSION, applied: [] });
    });

    for (let version = 1; version < LATEST_VERSION; version++) {
      test(`a database at version ${version} is migrated to the latest with its data kept`, async (t) => {
        const database = await h.database(t);
        const { db, dialect } = database.connection;
        assert.deepEqual((await migrate(db, dialect, { to: version })).applied, range(1, version));
        await seed(db, version);
        const store = await database.open();
        assert.deepEqual(store.migration.applied, range(version + 1, LATEST_VERSION));
        await check(store, version);
      });
    }

    test('the latest schema holds data written with its own columns', async (t) => {
      const database = await h.database(t);
      await migrate(database.connection.db, database.connection.dialect);
      await seed(database.connection.db, LATEST_VERSION);
      await check(await database.open(), LATEST_VERSION);
    });

    test('a database migrated by a newer build is refused with MUON_ERR_STORE_VERSION', async (t) => {
      const database = await h.database(t);
      const { db, dialect } = database.connection;
      await migrate(db, dialect);
      await db
        .insertInto('muon_migrations')
        .values({ version: LATEST_VERSION + 1, name: 'from the future', applied_at: T0 })
        .execute();
      const error = await rejectsWith(database.open(), 'MUON_ERR_STORE_VERSION');
      assert.match(error.message, new RegExp(`version ${LATEST_VERSION + 1}`));
    });

    test('each migration has its own transaction: a failure keeps the earlier ones and nothing of its own', async (t) => {
      const database = await h.database(t);
      const { db, dialect } = database.connection;
      const migrations: Migration[] = [
        {
          version: 1,
          name: 'first',
          up: (trx) => trx.schema.createTable('first_table').addColumn('a', 'integer').execute(),
        },
        {
          version: 2,
          name: 'broken',
          async up(trx) {
            await trx.schema.createTable('second_table').addColumn('a', 'integer').execute();
            throw new Error('boom');
          },
        },
      ];
      await assert.rejects(migrate(db, dialect, { migrations }), /boom/);
      assert.equal(await currentVersion(db), 1);
      await sql`select a from first_table`.execute(db);
      await assert.rejects(sql`select a from second_table`.execute(db));
      // Fixed and run again, it goes on from where it stopped.
      const fixed: Migration[] = [
        migrations[0] as Migration,
        {
          version: 2,
          name: 'fixed',
          up: (trx) => trx.schema.createTable('second_table').addColumn('a', 'integer').execute(),
        },
      ];
      assert.deepEqual(await migrate(db, dialect, { migrations: fixed }), { from: 1, to: 2, applied: [2] });
    });

    test('migrations must be numbered 1, 2, 3, … in order', async (t) => {
      const database = await h.database(t);
      const { db, dialect } = database.connection;
      const skip: Migration[] = [{ version: 2, name: 'gap', up: async () => {} }];
      await assert.rejects(migrate(db, dialect, { migrations: skip }), /expected 1/);
    });

    if (h.dialect !== 'sqlite') {
      // Two servers starting at once on one PostgreSQL database (SQLite has one process per file).
      test('two migrations racing apply each version exactly once', async (t) => {
        const first = await h.database(t);
        const second = await h.connect(t);
        const results = await Promise.all([
          migrate(first.connection.db, first.connection.dialect),
          migrate(second.db, second.dialect),
        ]);
        const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b);
        assert.deepEqual(applied, range(1, LATEST_VERSION));
        assert.equal((await appliedMigrations(first.connection.db)).length, LATEST_VERSION);
      });
    }

    test('a store that cannot be opened fails with MUON_ERR_STORE_UNAVAILABLE or MUON_ERR_CONFIG', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'muon-store-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'not-a-directory'), '');
      await rejectsWith(openStore({ dataDir: join(dir, 'not-a-directory') }), 'MUON_ERR_STORE_UNAVAILABLE');
      await rejectsWith(openStore({ dataDir: '.', url: 'mysql://x' }), 'MUON_ERR_CONFIG');
      const refused = await rejectsWith(
        openStore({ dataDir: '.', url: 'postgres://muon:secret-pw@127.0.0.1:1/muon' }),
        'MUON_ERR_STORE_UNAVAILABLE',
      );
      assert.doesNotMatch(refused.message, /secret-pw/, 'the password never appears in the message');
      assert.ok(refused instanceof MuonError);
    });
  });
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v++) out.push(v);
  return out;
}
