// Fits the built-in node:sqlite DatabaseSync to Kysely's SqliteDialect, which was written for
// better-sqlite3: statements take their parameters as an array and say whether they return rows.

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** SQLite has no boolean type; older Node 24 releases also refuse JS booleans as parameters. */
function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((value) => (typeof value === 'boolean' ? Number(value) : (value as SQLInputValue)));
}

function statement(prepared: StatementSync): SqliteStatement {
  return {
    // `insert … returning` has result columns too, so it is read with all(), as Kysely expects.
    reader: prepared.columns().length > 0,
    all: (parameters) => prepared.all(...bind(parameters)),
    run: (parameters) => prepared.run(...bind(parameters)),
    iterate: (parameters) => prepared.iterate(...bind(parameters)),
  };
}

export function kyselySqliteDatabase(database: DatabaseSync): SqliteDatabase {
  return {
    close: () => {
      if (database.isOpen) database.close();
    },
    prepare: (sql) => statement(database.prepare(sql)),
  };
}
