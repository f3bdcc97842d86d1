// Small pieces every management route uses: who is asking, ids and paging from the URL, and
// the admin-only guard.

import type { Context, MiddlewareHandler } from 'hono';
import { MuonError } from '../errors.ts';
import type { License } from '../store/repositories/licenses.ts';
import type { Store } from '../store/store.ts';
import type { AdminEnv } from './app.ts';

export function isAdmin(c: Context<AdminEnv>): boolean {
  return c.get('account').role === 'admin';
}

export function accountId(c: Context<AdminEnv>): number {
  return Number(c.get('account').id);
}

/** Lets only admins through (after requireAccount). */
export const requireAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (!isAdmin(c)) throw new MuonError('MUON_ERR_FORBIDDEN', 'only an admin may do this');
  await next();
};

/** A numeric id from the path; anything else is a 404. */
export function idOf(text: string | undefined): number {
  if (!text || !/^[1-9]\d{0,9}$/.test(text))
    throw new MuonError('MUON_ERR_NOT_FOUND', `no object with id ${text}`);
  return Number(text);
}

/** `limit` and `offset` from the query string (the store bounds them). */
export function pageOf(q: Record<string, string>): { limit?: number; offset?: number } {
  const page: { limit?: number; offset?: number } = {};
  for (const key of ['limit', 'offset'] as const) {
    const value = q[key];
    if (value === undefined) continue;
    if (!/^\d{1,9}$/.test(value)) {
      throw new MuonError('MUON_ERR_INVALID_INPUT', `${key}: must be a whole number`, { field: key });
    }
    page[key] = Number(value);
  }
  return page;
}

/** A `true`/`false` query parameter. */
export function flagOf(key: string, value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new MuonError('MUON_ERR_INVALID_INPUT', `${key}: must be true or false`, { field: key });
}

/** A query parameter that must be one of a few words. */
export function oneOf<T extends string>(key: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', `${key}: one of ${allowed.join(', ')}`, { field: key });
  }
  return found;
}

/** zod leaves absent optional keys undefined; the store's types want them absent. */
export function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

/** License `id` if the caller may see it (an admin, or its owner); 404 otherwise. */
export async function visibleLicense(c: Context<AdminEnv>, store: Store, id: number): Promise<License> {
  const license = await store.licenses.get(id);
  if (!license || (!isAdmin(c) && license.ownerId !== accountId(c))) {
    throw new MuonError('MUON_ERR_NOT_FOUND', `license ${id} does not exist`);
  }
  return license;
}
