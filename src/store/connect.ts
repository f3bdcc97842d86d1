// Opens the one query layer (Kysely) over the database the operator chose: SQLite through the
// built-in node:sqlite by default, PostgreSQL through `pg` for `postgres://…` URLs, or PGlite (an
// in-process PostgreSQL) for `pglite:` URLs and tests. Drivers load only when they are used.

import { chmod, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { kyselySqliteDatabase } from './node-sqlite.ts';
import type { Database } from './schema.ts';

/** The SQL dialect the schema and queries are written for; PGlite speaks `postgres`. */
export type DialectName = 'sqlite' | 'postgres';
export type StoreKind = 'sqlite' | 'postgres' | 'pglite';

export const SQLITE_FILE = 'muon.db';
const BUSY_TIMEOUT_MS = 5000;
const INT8_OID = 20;

/**
 * PGlite's own int8 parser gives a number below 2^53 and a bigint above; these always give a
 * bigint. Construct a PGlite passed in `ConnectOptions.pglite` with `{ parsers: PGLITE_PARSERS }`.
 */
export const PGLITE_PARSERS = { [INT8_OID]: (text: string) => BigInt(text) };

export interface ConnectOptions {
  /** Unset: SQLite in `<dataDir>/muon.db`. `postgres://…`: a PostgreSQL server. `pglite:memory` or `pglite:<dir>`. */
  url?: string | undefined;
  dataDir: string;
  /** An open PGlite instance to use as is (tests); the store leaves it open when it closes. */
  pglite?: PGlite | undefined;
  log?: Logger | undefined;
}

export interface Connection {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  readonly kind: StoreKind;
  /** Where the data lives, without credentials: safe to log. */
  readonly location: string;
  close(): Promise<void>;
}

export async function connect(options: ConnectOptions): Promise<Connection> {
  if (options.pglite) return fromPGlite(options.pglite, 'pglite (borrowed)', false);
  const url = options.url?.trim();
  if (!url) return openSqlite(options.dataDir);
  if (/^postgres(ql)?:\/\//i.test(url)) return openPostgres(url, options.log);
  if (url.startsWith('pglite:')) return openPGlite(url.slice('pglite:'.length), options.dataDir);
  throw new MuonError(
    'MUON_ERR_CONFIG',
    `store.url must start with postgres://, postgresql:// or pglite: (got "${url.split(':')[0]}:…")`,
  );
}

async function openSqlite(dataDir: string): Promise<Connection> {
  const file = resolve(dataDir, SQLITE_FILE);
  let database: DatabaseSync | undefined;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const existed = await stat(file).then(
      () => true,
      () => false,
    );
    const { DatabaseSync } = await import('node:sqlite');
    database = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
    // The file holds license keys: readable by the server's user only.
    if (!existed) await chmod(file, 0o600);
    database.exec(
      `pragma journal_mode = wal; pragma foreign_keys = on; pragma synchronous = normal; pragma busy_timeout = ${BUSY_TIMEOUT_MS};`,
    );
  } catch (error) {
    if (database?.isOpen) database.close();
    throw new MuonError(
      'MUON_ERR_STORE_UNAVAILABLE',
      `cannot open the SQLite database ${file}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: kyselySqliteDatabase(database) }),
  });
  return {
    db,
    dialect: 'sqlite',
    kind: 'sqlite',
    location: file,
    close: () => db.destroy(),
  };
}

async function openPostgres(url: string, log: Logger | undefined): Promise<Connection> {
  const location = withoutPassword(url);
  const { default: pg } = await import('pg');
  // int8 (counts, counters, limits) as bigint, never a rounded number; the pool's own parser set
  // leaves the process-wide pg.types untouched.
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, (text: string) => BigInt(text));
  const pool = new pg.Pool({ connectionString: url, types, max: 10, connectionTimeoutMillis: 10_000 });
  // An idle connection that breaks must not crash the server; the next query reports it.
  pool.on('error', (error) => log?.warn({ err: error.message, store: location }, 'store connection lost'));
  return checked(
    {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      dialect: 'postgres',
      kind: 'postgres',
      location,
      close: () => pool.end(),
    },
    pool,
  );
}

async function openPGlite(where: string, dataDir: string): Promise<Connection> {
  const { PGlite } = await import('@electric-sql/pglite');
  const dir = where === '' || where === 'memory' ? undefined : resolve(dataDir, where);
  const pglite = new PGlite(dir ?? 'memory://', { parsers: PGLITE_PARSERS });
  return fromPGlite(pglite, dir ?? 'pglite (in memory)', true);
}

async function fromPGlite(pglite: PGlite, location: string, owned: boolean): Promise<Connection> {
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return checked({
    db,
    dialect: 'postgres',
    kind: 'pglite',
    location,
    // Kysely's destroy() closes the PGlite instance: only do that when we opened it.
    close: async () => {
      if (owned) await db.destroy();
    },
  });
}

/** Runs one query so that a wrong URL or a stopped server fails at open, with a clear code. */
async function checked(connection: Connection, pool?: { end(): Promise<void> }): Promise<Connection> {
  try {
    await sql`select 1`.execute(connection.db);
    return connection;
  } catch (error) {
    await (pool ? pool.end() : connection.close()).catch(() => {});
    throw new MuonError(
      'MUON_ERR_STORE_UNAVAILABLE',
      `cannot reach the database at ${connection.location}: ${messageOf(error)}`,
      { cause: error },
    );
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
