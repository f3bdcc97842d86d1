// What the repositories share for lists and inputs: offset pagination (every list returns one
// page and the total matching its filters, as a console table with page numbers needs), literal
// text search, and the check of a name.

import { type RawBuilder, type SqlBool, sql } from 'kysely';
import { MuonError } from '../errors.ts';
import { toNumber } from './values.ts';

export interface PageRequest {
  /** 1–500; default 50. */
  limit?: number;
  /** Rows to skip; default 0. */
  offset?: number;
}

export interface Page<T> {
  items: T[];
  /** Rows matching the filters, over all pages. */
  total: number;
  limit: number;
  offset: number;
}

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

export function pageBounds(request: PageRequest): { limit: number; offset: number } {
  const limit = request.limit ?? DEFAULT_PAGE_LIMIT;
  const offset = request.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', `limit: must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'offset: must be a non-negative integer');
  }
  return { limit, offset };
}

/** Runs the count and the page query of one filtered list. */
export async function pageOf<Row, T>(
  request: PageRequest,
  count: () => Promise<{ n: number | bigint | string } | undefined>,
  rows: (limit: number, offset: number) => Promise<Row[]>,
  map: (row: Row) => T,
): Promise<Page<T>> {
  const { limit, offset } = pageBounds(request);
  const [counted, found] = [await count(), await rows(limit, offset)];
  return { items: found.map(map), total: counted ? toNumber(counted.n) : 0, limit, offset };
}

/** `column` contains `search`, any case, taken literally (no LIKE wildcards). */
export function containsText(column: string, search: string): RawBuilder<SqlBool> {
  const pattern = `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  // SQLite has no default LIKE escape character; PostgreSQL's is the same backslash.
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

/** A name as stored: non-empty, without surrounding spaces. Returns it; throws naming the field. */
export function checkName(field: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.trim() !== value) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', `${field}: must be non-empty, without surrounding spaces`);
  }
  return value;
}
