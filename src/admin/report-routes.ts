// Reports: traffic over time per license or mapping, clients online, the client connection log
// (a regular user sees only their own licenses') and the admin login log (admins only).
// Byte counters are 64-bit: they travel as decimal strings so JSON never rounds them.

import { type Context, Hono } from 'hono';
import { MuonError } from '../errors.ts';
import type { TrafficQuery } from '../store/repositories/traffic.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { accountId, idOf, isAdmin, oneOf, pageOf, requireAdmin, visibleLicense } from './route-helpers.ts';

const GRANULARITIES = ['minute', 'hour', 'day', 'month'] as const;

export function reportRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps));

  routes.get('/traffic', async (c) => {
    const q = c.req.query();
    const granularity = oneOf('granularity', q.granularity ?? 'hour', GRANULARITIES);
    const scope = await trafficScope(c, store, q);
    const buckets = await store.traffic.series({ ...scope, granularity, ...timeRange(q) });
    return c.json({
      granularity,
      items: buckets.map((b) => ({
        bucketStart: b.bucketStart,
        bytesIn: String(b.bytesIn),
        bytesOut: String(b.bytesOut),
      })),
    });
  });

  routes.get('/summary', async (c) => {
    const summary = await summaryOf(c, deps);
    // 64-bit counters travel as decimal strings (JSON has no bigint).
    const counts = (t: { bytesIn: bigint; bytesOut: bigint }) => ({
      bytesIn: String(t.bytesIn),
      bytesOut: String(t.bytesOut),
    });
    return c.json({
      ...summary,
      trafficToday: counts(summary.trafficToday),
      trafficTotal: counts(summary.trafficTotal),
    });
  });

  routes.get('/online', async (c) => {
    const page = await store.licenses.list({
      ...pageOf(c.req.query()),
      online: true,
      ...(isAdmin(c) ? {} : { ownerId: accountId(c) }),
    });
    return c.json(page);
  });

  routes.get('/connections', async (c) => {
    const q = c.req.query();
    if (q.licenseId) await visibleLicense(c, store, idOf(q.licenseId));
    else if (!isAdmin(c))
      throw new MuonError('MUON_ERR_INVALID_INPUT', 'licenseId: required', { field: 'licenseId' });
    return c.json(
      await store.connections.list({
        ...pageOf(q),
        ...(q.licenseId ? { licenseId: idOf(q.licenseId) } : {}),
        ...timeRange(q),
      }),
    );
  });

  routes.use('/logins', requireAdmin);
  routes.get('/logins', async (c) =>
    c.json(await store.logins.list({ ...pageOf(c.req.query()), ...timeRange(c.req.query()) })),
  );

  return routes;
}

/** What the console's dashboard shows: counts now, and traffic today and in total. */
export interface Summary {
  licenses: { total: number; online: number; enabled: number };
  /** `active`: enabled mappings whose client is online (their ports are listening). */
  mappings: { total: number; active: number };
  /** Visitor connections open now; null for regular users (the figure is server-wide). */
  visitorsActive: number | null;
  trafficToday: { bytesIn: bigint; bytesOut: bigint };
  trafficTotal: { bytesIn: bigint; bytesOut: bigint };
}

async function summaryOf(c: Context<AdminEnv>, deps: AdminDeps & { store: Store }): Promise<Summary> {
  const { store } = deps;
  const owner = isAdmin(c) ? {} : { ownerId: accountId(c) };
  const count = async (page: Promise<{ total: number }>) => (await page).total;
  const [total, online, enabled, mappings, active] = await Promise.all([
    count(store.licenses.list({ ...owner, limit: 1 })),
    count(store.licenses.list({ ...owner, online: true, limit: 1 })),
    count(store.licenses.list({ ...owner, enabled: true, limit: 1 })),
    count(store.mappings.list({ ...owner, limit: 1 })),
    count(store.mappings.list({ ...owner, enabled: true, online: true, limit: 1 })),
  ]);
  const today = startOfUtcDay(new Date());
  const month = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
  // Regular users' traffic is the sum over their licenses; admins see the whole server's.
  const sum = async (parts: TrafficQuery[]) => {
    const totals = await Promise.all(parts.map((part) => store.traffic.totals({ ...part, ...owner })));
    return totals.reduce((a, b) => ({ bytesIn: a.bytesIn + b.bytesIn, bytesOut: a.bytesOut + b.bytesOut }), {
      bytesIn: 0n,
      bytesOut: 0n,
    });
  };
  // Minute rows are exact up to the last flush; coarser rows only as of the last roll-up, so
  // the total takes each period from the finest level that still holds it.
  const [trafficToday, before] = await Promise.all([
    sum([{ granularity: 'minute', from: today }]),
    sum([
      { granularity: 'month', to: month },
      { granularity: 'day', from: month, to: today },
    ]),
  ]);
  const trafficTotal = {
    bytesIn: before.bytesIn + trafficToday.bytesIn,
    bytesOut: before.bytesOut + trafficToday.bytesOut,
  };
  return {
    licenses: { total, online, enabled },
    mappings: { total: mappings, active },
    visitorsActive: isAdmin(c) ? deps.metrics.visitorsActive : null,
    trafficToday,
    trafficTotal,
  };
}

function startOfUtcDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/** One mapping, one license, or everything the caller may see (a user: their own licenses). */
async function trafficScope(
  c: Context<AdminEnv>,
  store: Store,
  q: Record<string, string>,
): Promise<{ mappingId?: number; licenseId?: number; ownerId?: number }> {
  if (q.mappingId) {
    const mapping = await store.mappings.get(idOf(q.mappingId));
    if (!mapping) throw new MuonError('MUON_ERR_NOT_FOUND', `mapping ${q.mappingId} does not exist`);
    await visibleLicense(c, store, mapping.licenseId);
    return { mappingId: mapping.id };
  }
  if (q.licenseId) {
    const id = idOf(q.licenseId);
    await visibleLicense(c, store, id);
    return { licenseId: id };
  }
  return isAdmin(c) ? {} : { ownerId: accountId(c) };
}

function timeRange(q: Record<string, string>): { from?: Date; to?: Date } {
  const range: { from?: Date; to?: Date } = {};
  for (const key of ['from', 'to'] as const) {
    const text = q[key];
    if (text === undefined) continue;
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) {
      throw new MuonError('MUON_ERR_INVALID_INPUT', `${key}: expected an ISO-8601 time`, { field: key });
    }
    range[key] = at;
  }
  return range;
}
