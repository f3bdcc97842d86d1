// Security groups and their ordered allow/deny rules (CIDR, IPv4 and IPv6) with a default action,
// for admins only. Mappings refer to a group by id; the tunnel enforces the rules on visitors.

import { Hono } from 'hono';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { idOf, pageOf, requireAdmin, stripUndefined } from './route-helpers.ts';
import { parseJson } from './validate.ts';

export const GroupBody = z.strictObject({
  name: z.string().trim().min(1).max(64),
  description: z.string().max(500).nullable().optional(),
  defaultAction: z.enum(['allow', 'deny']).optional(),
});
export const RuleBody = z.strictObject({
  action: z.enum(['allow', 'deny']),
  cidr: z.string().trim().min(1).max(64),
  priority: z.number().int().min(0).max(1_000_000),
  description: z.string().max(500).nullable().optional(),
});

export function securityGroupRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps), requireAdmin);

  routes.get('/', async (c) => c.json(await store.securityGroups.list(pageOf(c.req.query()))));
  routes.post('/', async (c) => {
    const body = await parseJson(c, GroupBody);
    return c.json(await store.securityGroups.create(stripUndefined(body)), 201);
  });
  routes.get('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const group = await store.securityGroups.get(id);
    if (!group) throw new MuonError('MUON_ERR_NOT_FOUND', `security group ${id} does not exist`);
    return c.json({ ...group, rules: await store.securityGroups.rules(id) });
  });
  routes.patch('/:id', async (c) => {
    const body = await parseJson(c, GroupBody.partial());
    return c.json(await store.securityGroups.update(idOf(c.req.param('id')), stripUndefined(body)));
  });
  routes.delete('/:id', async (c) => {
    await store.securityGroups.delete(idOf(c.req.param('id')));
    return c.body(null, 204);
  });
  routes.post('/:id/rules', async (c) => {
    const rule = await parseJson(c, RuleBody);
    return c.json(await store.securityGroups.addRule(idOf(c.req.param('id')), stripUndefined(rule)), 201);
  });
  routes.patch('/rules/:id', async (c) => {
    const patch = await parseJson(c, RuleBody.partial());
    return c.json(await store.securityGroups.updateRule(idOf(c.req.param('id')), stripUndefined(patch)));
  });
  routes.delete('/rules/:id', async (c) => {
    await store.securityGroups.deleteRule(idOf(c.req.param('id')));
    return c.body(null, 204);
  });

  return routes;
}
