// Recognises driver errors across node:sqlite, pg and PGlite, and turns the ones that are not
// a repository's business (a lost connection, a locked or full database) into MuonErrors.

import { MuonError } from '../errors.ts';

interface DriverError {
  code?: unknown;
  errcode?: unknown;
  constraint?: unknown;
  message?: unknown;
}

const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
/** What SQLite reports for an `on delete restrict` action. */
const SQLITE_CONSTRAINT_TRIGGER = 1811;
const SQLITE_CONSTRAINT_CHECK = 275;
/** BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, NOTADB (primary result codes). */
const SQLITE_UNAVAILABLE = new Set([5, 6, 8, 10, 13, 14, 26]);

function fields(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

function sqliteCode(error: unknown): number | undefined {
  const { code, errcode } = fields(error);
  return code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number' ? errcode : undefined;
}

/**
 * What a unique violation names, for telling which constraint failed: the constraint name
 * (PostgreSQL) or "table.column, …" / "index 'name'" (SQLite). Undefined if not a unique violation.
 */
export function uniqueViolation(error: unknown): string | undefined {
  const e = fields(error);
  if (e.code === '23505') return typeof e.constraint === 'string' ? e.constraint : String(e.message);
  const code = sqliteCode(error);
  if (code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY) return String(e.message);
  return undefined;
}

export function isForeignKeyViolation(error: unknown): boolean {
  const code = sqliteCode(error);
  return (
    // 23503 foreign_key_violation; 23001 restrict_violation (`on delete restrict`).
    fields(error).code === '23503' ||
    fields(error).code === '23001' ||
    code === SQLITE_CONSTRAINT_FOREIGNKEY ||
    (code === SQLITE_CONSTRAINT_TRIGGER && String(fields(error).message).includes('FOREIGN KEY'))
  );
}

export function isCheckViolation(error: unknown): boolean {
  return fields(error).code === '23514' || sqliteCode(error) === SQLITE_CONSTRAINT_CHECK;
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE']);

/** True for failures of the database itself rather than of one statement. */
export function isUnavailable(error: unknown): boolean {
  const e = fields(error);
  if (typeof e.code === 'string') {
    // 08xxx connection exceptions, 57P0x shutdowns, 53xxx out of resources (PostgreSQL).
    if (/^(08|57P0|53)/.test(e.code) || NET_CODES.has(e.code)) return true;
  }
  const code = sqliteCode(error);
  if (code !== undefined && SQLITE_UNAVAILABLE.has(code & 0xff)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return (
    /Connection terminated|database is not open|driver has already been destroyed|PGlite is closed/i.test(
      message,
    ) || message.includes('Client has encountered a connection error')
  );
}

/** The error a repository rethrows: MuonErrors as they are, lost databases as STORE_UNAVAILABLE. */
export function translate(error: unknown): unknown {
  if (error instanceof MuonError) return error;
  if (isCheckViolation(error)) {
    return new MuonError(
      'MUON_ERR_INVALID_INPUT',
      `a value is out of range (${String(fields(error).message)})`,
      {
        cause: error,
      },
    );
  }
  if (isUnavailable(error)) return new MuonError('MUON_ERR_STORE_UNAVAILABLE', undefined, { cause: error });
  return error;
}
