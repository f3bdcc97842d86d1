// What a migration is, and the few column shapes that differ between SQLite and PostgreSQL:
// identity ids, booleans (0/1 in SQLite) and times (ISO text in SQLite, timestamptz in PostgreSQL).
// Migrations are frozen once released: they use the schema builder only, never the typed tables.

import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { DialectName } from '../connect.ts';

export interface Migration {
  /** 1, 2, 3, …: applied in order, each in its own transaction. */
  readonly version: number;
  readonly name: string;
  up(db: Kysely<unknown>, dialect: DialectName): Promise<void>;
}

/** An integer id that is never reused (so history rows that keep an old id stay unambiguous). */
export function addId<TB extends string, C extends string>(
  table: CreateTableBuilder<TB, C>,
  dialect: DialectName,
): CreateTableBuilder<TB, C | 'id'> {
  return dialect === 'postgres'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

export function timeType(dialect: DialectName): 'timestamptz' | 'text' {
  return dialect === 'postgres' ? 'timestamptz' : 'text';
}

export function addFlag<TB extends string, C extends string, N extends string>(
  table: CreateTableBuilder<TB, C>,
  dialect: DialectName,
  name: N,
  defaultValue: boolean,
): CreateTableBuilder<TB, C | N> {
  return dialect === 'postgres'
    ? table.addColumn(name, 'boolean', (c) => c.notNull().defaultTo(defaultValue))
    : table.addColumn(name, 'integer', (c) =>
        c
          .notNull()
          .defaultTo(Number(defaultValue))
          .check(sql`${sql.ref(name)} in (0, 1)`),
      );
}

export function addTimestamps<TB extends string, C extends string>(
  table: CreateTableBuilder<TB, C>,
  dialect: DialectName,
): CreateTableBuilder<TB, C | 'created_at' | 'updated_at'> {
  return table
    .addColumn('created_at', timeType(dialect), (c) => c.notNull())
    .addColumn('updated_at', timeType(dialect), (c) => c.notNull());
}

/** A nullable speed limit in bytes per second. */
export function addLimits<TB extends string, C extends string>(
  table: CreateTableBuilder<TB, C>,
): CreateTableBuilder<TB, C | 'upload_limit' | 'download_limit'> {
  return table
    .addColumn('upload_limit', 'bigint', (c) => c.check(sql`upload_limit > 0`))
    .addColumn('download_limit', 'bigint', (c) => c.check(sql`download_limit > 0`));
}
