// Licenses and their port mappings over HTTP. An admin sees and manages everything; a regular
// user only their own licenses (someone else's answer 404, as if they did not exist), and only
// public ports that the port pool allows for the license. Every change reaches the running
// tunnel at once through the store's change events.

import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import { MAX_CONNECTIONS } from '../store/repositories/licenses.ts';
import { type Mapping, PROTOCOLS, portFamily } from '../store/repositories/mapping-records.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { httpMappingFields, storeFieldsOf } from './mapping-http-fields.ts';
import {
  accountId,
  flagOf,
  idOf,
  isAdmin,
  oneOf,
  pageOf,
  stripUndefined,
  visibleLicense,
} from './route-helpers.ts';
import { parseJson } from './validate.ts';

const limit = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable();
const maxConnections = z.number().int().min(1).max(MAX_CONNECTIONS).nullable();
export const NewLicenseBody = z.strictObject({
  name: z.string().trim().min(1).max(64),
  ownerId: z.number().int().positive().optional(),
  enabled: z.boolean().optional(),
  uploadLimit: limit.optional(),
  downloadLimit: limit.optional(),
  maxConnections: maxConnections.optional(),
  description: z.string().max(500).nullable().optional(),
});
export const LicensePatchBody = NewLicenseBody.omit({ ownerId: true }).partial();
const port = z.number().int().min(1).max(65_535);
export const NewMappingBody = z.strictObject({
  protocol: z.enum(['tcp', 'udp', 'http', 'https']).default('tcp'),
  /** Required for tcp and udp; http and https have host names instead. */
  publicPort: port.optional(),
  targetHost: z.string().trim().min(1).max(253),
  targetPort: port,
  enabled: z.boolean().optional(),
  uploadLimit: limit.optional(),
  downloadLimit: limit.optional(),
  maxConnections: maxConnections.optional(),
  securityGroupId: z.number().int().positive().nullable().optional(),
  /** TCP only (the store refuses it on udp): the PROXY protocol header written to the target first. */
  proxyProtocol: z.enum(['v1', 'v2']).nullable().optional(),
  ...httpMappingFields,
  description: z.string().max(500).nullable().optional(),
});
export const MappingPatchBody = NewMappingBody.omit({ protocol: true }).partial();
/** How many free ports the picker offers at most. */
const MAX_FREE_PORTS = 200;

export function licenseRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps));

  routes.get('/', async (c) => {
    const q = c.req.query();
    const page = await store.licenses.list({
      ...pageOf(q),
      ...(isAdmin(c) ? (q.ownerId ? { ownerId: idOf(q.ownerId) } : {}) : { ownerId: accountId(c) }),
      ...(q.search ? { search: q.search } : {}),
    });
    return c.json(page);
  });

  routes.post('/', async (c) => {
    const body = await parseJson(c, NewLicenseBody);
    if (body.ownerId !== undefined && !isAdmin(c) && body.ownerId !== accountId(c)) {
      throw new MuonError('MUON_ERR_FORBIDDEN', 'only an admin may create licenses for other users', {
        field: 'ownerId',
      });
    }
    const license = await store.licenses.create({
      ...stripUndefined(body),
      ownerId: body.ownerId ?? accountId(c),
    });
    return c.json(license, 201);
  });

  routes.get('/:id', async (c) => c.json(await visibleLicense(c, store, idOf(c.req.param('id')))));

  routes.patch('/:id', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    const body = await parseJson(c, LicensePatchBody);
    return c.json(await store.licenses.update(license.id, stripUndefined(body)));
  });

  routes.post('/:id/reset-key', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    return c.json(await store.licenses.resetKey(license.id));
  });

  routes.delete('/:id', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    await store.licenses.delete(license.id);
    return c.body(null, 204);
  });

  routes.get('/:id/mappings', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    return c.json({ items: await store.mappings.listByLicense(license.id) });
  });

  /** Public ports in the pool allowed for this license that no mapping holds yet, lowest first. */
  routes.get('/:id/free-ports', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    const q = c.req.query();
    const { limit = 50 } = pageOf(q);
    // TCP and UDP ports are free or taken separately; tcp unless ?protocol= says otherwise.
    const protocol = q.protocol ? oneOf('protocol', q.protocol, PROTOCOLS) : 'tcp';
    const [ranges, used] = await Promise.all([
      store.portGroups.allowedRanges(license.id),
      store.mappings.usedPorts(portFamily(protocol)),
    ]);
    const free = new Set<number>();
    for (const range of ranges.toSorted((a, b) => a.portStart - b.portStart)) {
      for (let p = range.portStart; p <= range.portEnd && free.size < Math.min(limit, MAX_FREE_PORTS); p++) {
        if (!used.has(p)) free.add(p);
      }
    }
    return c.json({ items: [...free].sort((a, b) => a - b) });
  });

  routes.post('/:id/mappings', async (c) => {
    const license = await visibleLicense(c, store, idOf(c.req.param('id')));
    const body = await parseJson(c, NewMappingBody);
    const fields = await storeFieldsOf(body.protocol, stripUndefined(body), true);
    if (body.publicPort !== undefined) await checkPortAllowed(store, license.id, body.publicPort);
    const mapping = await store.mappings.create({ ...fields, licenseId: license.id });
    return c.json(mapping, 201);
  });

  return routes;
}

export function mappingRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps));

  routes.get('/', async (c) => {
    const q = c.req.query();
    const page = await store.mappings.list({
      ...pageOf(q),
      ...(isAdmin(c) ? (q.ownerId ? { ownerId: idOf(q.ownerId) } : {}) : { ownerId: accountId(c) }),
      ...(q.licenseId ? { licenseId: idOf(q.licenseId) } : {}),
      ...(q.protocol ? { protocol: oneOf('protocol', q.protocol, PROTOCOLS) } : {}),
      ...(q.enabled ? { enabled: flagOf('enabled', q.enabled) } : {}),
      ...(q.online ? { online: flagOf('online', q.online) } : {}),
    });
    return c.json(page);
  });

  routes.get('/:id', async (c) => c.json(await visibleMapping(c, store)));

  routes.patch('/:id', async (c) => {
    const mapping = await visibleMapping(c, store);
    const body = await parseJson(c, MappingPatchBody);
    const fields = await storeFieldsOf(mapping.protocol, stripUndefined(body), false);
    if (body.publicPort !== undefined && body.publicPort !== mapping.publicPort) {
      await checkPortAllowed(store, mapping.licenseId, body.publicPort);
    }
    return c.json(await store.mappings.update(mapping.id, fields));
  });

  routes.delete('/:id', async (c) => {
    const mapping = await visibleMapping(c, store);
    await store.mappings.delete(mapping.id);
    return c.body(null, 204);
  });

  return routes;
}

async function visibleMapping(c: Context<AdminEnv>, store: Store): Promise<Mapping> {
  const id = idOf(c.req.param('id'));
  const mapping = await store.mappings.get(id);
  if (!mapping) throw new MuonError('MUON_ERR_NOT_FOUND', `mapping ${id} does not exist`);
  await visibleLicense(c, store, mapping.licenseId);
  return mapping;
}

async function checkPortAllowed(store: Store, licenseId: number, port: number): Promise<void> {
  if (!(await store.portGroups.isPortAllowed(licenseId, port))) {
    throw new MuonError(
      'MUON_ERR_FORBIDDEN',
      `port ${port} is not in the port pool allowed for this license`,
      {
        field: 'publicPort',
      },
    );
  }
}
