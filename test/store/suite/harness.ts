// Fresh databases for the store suite, whichever dialect runs it: a new SQLite file in a temp
// directory per test, or the one PGlite instance / PostgreSQL database of this process, emptied
// between tests. Everything a test opens is closed in t.after.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { type Connection, connect, PGLITE_PARSERS } from '../../../src/store/connect.ts';
import { LATEST_VERSION } from '../../../src/store/migrations/index.ts';
import { currentVersion } from '../../../src/store/migrator.ts';
import { openStore, type Store, type StoreOptions } from '../../../src/store/store.ts';

export type TestDialect = 'sqlite' | 'pglite' | 'postgres';

export const DIALECTS: readonly TestDialect[] = ['sqlite', 'pglite', 'postgres'];

/** MUON_TEST_STORE: sqlite (default), pglite or postgres (which needs MUON_TEST_PG_URL). */
export function dialectFromEnv(): TestDialect {
  const value = process.env.MUON_TEST_STORE ?? 'sqlite';
  if (!DIALECTS.includes(value as TestDialect)) {
    throw new Error(`MUON_TEST_STORE must be one of ${DIALECTS.join(', ')} (got "${value}")`);
  }
  return value as TestDialect;
}

export interface Database {
  /** A connection to the empty database, not migrated (build an earlier version with migrate()). */
  connection: Connection;
  /** Opens a Store on the same database (migrating it to the latest version). */
  open(options?: Partial<StoreOptions>): Promise<Store>;
}

type Open = Partial<StoreOptions> & { now?: () => Date };

const TABLES = [
  'acme_accounts',
  'admin_logins',
  'client_connections',
  'traffic_stats',
  'mapping_hosts',
  'domains',
  'port_group_assignments',
  'port_pool',
  'port_groups',
  'port_mappings',
  'security_group_rules',
  'security_groups',
  'licenses',
  'users',
];

export class StoreHarness {
  readonly dialect: TestDialect;
  #pglite: PGlite | undefined;
  /** PostgreSQL kinds: true while the shared database holds the latest schema and nothing else. */
  #migrated = false;

  constructor(dialect: TestDialect) {
    this.dialect = dialect;
    if (dialect === 'postgres' && !process.env.MUON_TEST_PG_URL) {
      throw new Error('MUON_TEST_STORE=postgres needs MUON_TEST_PG_URL (see scripts/postgres.sh)');
    }
  }

  /** A migrated store on an empty database. */
  async store(t: TestContext, options: Open = {}): Promise<Store> {
    if (this.dialect === 'sqlite') return (await this.database(t)).open(options);
    if (this.#migrated) {
      const store = await this.#open(options);
      t.after(() => store.close());
      await this.#truncate(store);
      return store;
    }
    const database = await this.database(t);
    const store = await database.open(options);
    this.#migrated = true;
    return store;
  }

  /** An empty database (no tables at all). */
  async database(t: TestContext): Promise<Database> {
    if (this.dialect === 'sqlite') {
      const dataDir = await mkdtemp(join(tmpdir(), 'muon-store-'));
      const stores: Store[] = [];
      const connection = await connect({ dataDir });
      // One hook, so the database is closed before its directory is removed.
      t.after(async () => {
        await connection.close();
        for (const store of stores) await store.close();
        await rm(dataDir, { recursive: true, force: true });
      });
      return {
        connection,
        open: async (options = {}) => {
          await connection.close();
          const store = await openStore({ ...options, dataDir });
          stores.push(store);
          return store;
        },
      };
    }
    const connection = await this.#connect();
    t.after(() => connection.close());
    await sql`drop schema public cascade`.execute(connection.db);
    await sql`create schema public`.execute(connection.db);
    this.#migrated = false;
    return {
      connection,
      open: async (options = {}) => {
        const store = await this.#open(options);
        t.after(() => store.close());
        this.#migrated = (await currentVersion(store.db)) === LATEST_VERSION;
        return store;
      },
    };
  }

  /** Another connection to the database of the last database() call (PostgreSQL kinds only). */
  async connect(t: TestContext): Promise<Connection> {
    if (this.dialect === 'sqlite') throw new Error('connect() is for the PostgreSQL kinds');
    const connection = await this.#connect();
    t.after(() => connection.close());
    return connection;
  }

  async #connect(): Promise<Connection> {
    if (this.dialect === 'pglite') return connect({ dataDir: '.', pglite: await this.#sharedPGlite() });
    return connect({ dataDir: '.', url: process.env.MUON_TEST_PG_URL });
  }

  async #open(options: Open): Promise<Store> {
    if (this.dialect === 'pglite')
      return openStore({ ...options, dataDir: '.', pglite: await this.#sharedPGlite() });
    return openStore({ ...options, dataDir: '.', url: process.env.MUON_TEST_PG_URL });
  }

  async #truncate(store: Store): Promise<void> {
    await sql`truncate table ${sql.join(TABLES.map((name) => sql.table(name)))} restart identity cascade`.execute(
      store.db,
    );
  }

  async #sharedPGlite(): Promise<PGlite> {
    if (!this.#pglite) {
      const { PGlite } = await import('@electric-sql/pglite');
      this.#pglite = await PGlite.create({ parsers: PGLITE_PARSERS });
    }
    return this.#pglite;
  }

  /** Ends the process-wide resources (the PGlite instance). */
  async dispose(): Promise<void> {
    await this.#pglite?.close();
    this.#pglite = undefined;
  }
}
