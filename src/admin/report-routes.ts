// Reports: traffic over time per license or mapping, clients online, the client connection log
// (a regular user sees only their own licenses') and the admin login log (admins only).
// Byte counters are 64-bit: they travel as decimal strings so JSON never rounds them.

import { type Context, Hono } from 'hono';
import { MuonError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { accountId, idOf, isAdmin, pageOf, requireAdmin, visibleLicense } from './route-helpers.ts';

const GRANULARITIES = ['minute', 'hour', 'day', 'month'] as const;

export function reportRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps));

  routes.get('/traffic', async (c) => {
    const q = c.req.query();
    const granularity = GRANULARITIES.find((g) => g === (q.granularity ?? 'hour'));
    if (!granularity) {
      throw new MuonError('MUON_ERR_INVALID_INPUT', `granularity: one of ${GRANULARITIES.join(', ')}`, {
        field: 'granularity',
      });
    }
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

/** One mapping, one license, or (admins only) everything. */
async function trafficScope(
  c: Context<AdminEnv>,
  store: Store,
  q: Record<string, string>,
): Promise<{ mappingId?: number; licenseId?: number }> {
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
  if (!isAdmin(c))
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'licenseId or mappingId: required', { field: 'licenseId' });
  return {};
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
