// The port pool and port groups, for admins only: which public ports mappings may use, and for
// whom (a group assigned globally, to a user, or to one license).

import { Hono } from 'hono';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { idOf, pageOf, requireAdmin, stripUndefined } from './route-helpers.ts';
import { parseJson } from './validate.ts';

const port = z.number().int().min(1).max(65_535);
export const RangeBody = z.strictObject({
  portStart: port,
  portEnd: port.optional(),
  groupId: z.number().int().positive().nullable().optional(),
  description: z.string().max(500).nullable().optional(),
});
export const GroupBody = z.strictObject({
  name: z.string().trim().min(1).max(64),
  description: z.string().max(500).nullable().optional(),
});
export const AssignmentBody = z.discriminatedUnion('scope', [
  z.strictObject({ scope: z.literal('global') }),
  z.strictObject({ scope: z.literal('user'), userId: z.number().int().positive() }),
  z.strictObject({ scope: z.literal('license'), licenseId: z.number().int().positive() }),
]);

export function portPoolRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps), requireAdmin);

  routes.get('/', async (c) => c.json(await store.portPool.list(pageOf(c.req.query()))));
  routes.post('/', async (c) => {
    const body = await parseJson(c, RangeBody);
    return c.json(await store.portPool.create(stripUndefined(body)), 201);
  });
  routes.patch('/:id', async (c) => {
    const body = await parseJson(c, RangeBody.partial());
    return c.json(await store.portPool.update(idOf(c.req.param('id')), stripUndefined(body)));
  });
  routes.delete('/:id', async (c) => {
    await store.portPool.delete(idOf(c.req.param('id')));
    return c.body(null, 204);
  });

  return routes;
}

export function portGroupRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps), requireAdmin);

  routes.get('/', async (c) => c.json(await store.portGroups.list(pageOf(c.req.query()))));
  routes.post('/', async (c) => {
    const body = await parseJson(c, GroupBody);
    return c.json(await store.portGroups.create(stripUndefined(body)), 201);
  });
  routes.get('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const group = await store.portGroups.get(id);
    if (!group) throw new MuonError('MUON_ERR_NOT_FOUND', `port group ${id} does not exist`);
    return c.json({ ...group, assignments: await store.portGroups.assignments({ groupId: id }) });
  });
  routes.patch('/:id', async (c) => {
    const body = await parseJson(c, GroupBody.partial());
    return c.json(await store.portGroups.update(idOf(c.req.param('id')), stripUndefined(body)));
  });
  routes.delete('/:id', async (c) => {
    await store.portGroups.delete(idOf(c.req.param('id')));
    return c.body(null, 204);
  });
  routes.post('/:id/assignments', async (c) => {
    const target = await parseJson(c, AssignmentBody);
    return c.json(await store.portGroups.assign(idOf(c.req.param('id')), target), 201);
  });
  routes.delete('/assignments/:id', async (c) => {
    await store.portGroups.unassign(idOf(c.req.param('id')));
    return c.body(null, 204);
  });

  return routes;
}
