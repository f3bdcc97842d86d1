// Brings a database to the schema this build expects, at every start. Each migration runs in its
// own transaction together with the row that records it, so a failure leaves the database at the
// previous version. Two servers starting at once on one database cannot both apply a migration:
// on PostgreSQL they take turns under an advisory lock, and everywhere the version row is inserted
// first, so its primary key makes a late twin roll back.

import { type Kysely, sql } from 'kysely';
import { MuonError } from '../errors.ts';
import type { DialectName } from './connect.ts';
import { uniqueViolation } from './db-errors.ts';
import { LATEST_VERSION, MIGRATIONS, type Migration } from './migrations/index.ts';
import type { Database } from './schema.ts';
import { timeValue } from './values.ts';

export interface MigrateOptions {
  /** Stop at this version (tests build databases as earlier releases left them). Default: latest. */
  to?: number;
  /** The migrations to apply; tests pass their own. Default: all of this build's. */
  migrations?: readonly Migration[];
  now?: () => Date;
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: number[];
}

export async function currentVersion(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('muon_migrations')
    .select((eb) => eb.fn.max('version').as('version'))
    .executeTakeFirst();
  return row?.version == null ? 0 : Number(row.version);
}

async function ensureTable(db: Kysely<Database>, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('muon_migrations')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('applied_at', dialect === 'postgres' ? 'timestamptz' : 'text', (c) => c.notNull())
    .execute();
}

const ALREADY_APPLIED = new Error('migration already applied');
/** An arbitrary constant naming Muon's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 0x6d756f6e; // "muon"

export async function migrate(
  db: Kysely<Database>,
  dialect: DialectName,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS;
  const latest = options.migrations ? migrations.length : LATEST_VERSION;
  const target = options.to ?? latest;
  const now = options.now ?? (() => new Date());
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });

  // On PostgreSQL, servers starting at once take turns (a session lock on one connection), so
  // only one creates the migrations table and applies a version.
  return db.connection().execute(async (conn) => {
    if (dialect !== 'postgres') return migrateOn(conn, dialect, migrations, latest, target, now);
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
    try {
      return await migrateOn(conn, dialect, migrations, latest, target, now);
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
    }
  });
}

async function migrateOn(
  db: Kysely<Database>,
  dialect: DialectName,
  migrations: readonly Migration[],
  latest: number,
  target: number,
  now: () => Date,
): Promise<MigrateResult> {
  await ensureTable(db, dialect);
  const from = await currentVersion(db);
  if (from > latest) {
    throw new MuonError(
      'MUON_ERR_STORE_VERSION',
      `the database is at schema version ${from}, this build knows versions up to ${latest}: run a newer Muon`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    if (migration.version <= from || migration.version > target) continue;
    try {
      await db.transaction().execute(async (trx) => {
        try {
          await trx
            .insertInto('muon_migrations')
            .values({ version: migration.version, name: migration.name, applied_at: timeValue(now()) })
            .execute();
        } catch (error) {
          throw uniqueViolation(error) === undefined ? error : ALREADY_APPLIED;
        }
        await migration.up(trx as unknown as Kysely<unknown>, dialect);
      });
      applied.push(migration.version);
    } catch (error) {
      if (error !== ALREADY_APPLIED) throw error; // another server applied it first
    }
  }
  return { from, to: await currentVersion(db), applied };
}

/** The version rows, oldest first (for `muon` diagnostics and tests). */
export async function appliedMigrations(
  db: Kysely<Database>,
): Promise<{ version: number; name: string; appliedAt: Date }[]> {
  const rows = await db.selectFrom('muon_migrations').selectAll().orderBy('version').execute();
  return rows.map((r) => ({ version: r.version, name: r.name, appliedAt: new Date(r.applied_at) }));
}
