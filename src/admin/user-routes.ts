// Users, for admins only. Passwords arrive in clear over the API and are stored as argon2id
// hashes; changing a password or disabling a user ends their sessions. The last enabled admin
// cannot be removed, disabled or demoted, so the server never locks its operators out.

import { Hono } from 'hono';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { hashPassword } from './passwords.ts';
import { idOf, pageOf, requireAdmin, stripUndefined } from './route-helpers.ts';
import { parseJson } from './validate.ts';

export const NewUserBody = z.strictObject({
  username: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[\w.@-]+$/, { error: 'letters, digits and . _ @ - only' }),
  password: z.string().min(12).max(1024),
  role: z.enum(['admin', 'user']).default('user'),
  enabled: z.boolean().optional(),
});
export const UserPatchBody = NewUserBody.partial();

export function userRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store, tokens } = deps;
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps), requireAdmin);

  routes.get('/', async (c) => {
    const q = c.req.query();
    const role = q.role === 'admin' || q.role === 'user' ? { role: q.role as 'admin' | 'user' } : {};
    return c.json(
      await store.users.list({ ...pageOf(q), ...role, ...(q.search ? { search: q.search } : {}) }),
    );
  });

  routes.post('/', async (c) => {
    const { password, ...body } = await parseJson(c, NewUserBody);
    const user = await store.users.create({
      ...stripUndefined(body),
      passwordHash: await hashPassword(password),
    });
    return c.json(user, 201);
  });

  routes.get('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const user = await store.users.get(id);
    if (!user) throw new MuonError('MUON_ERR_NOT_FOUND', `user ${id} does not exist`);
    return c.json(user);
  });

  routes.patch('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const { password, ...body } = await parseJson(c, UserPatchBody);
    if (body.enabled === false || body.role === 'user') await keepAnAdmin(store, id);
    const user = await store.users.update(id, {
      ...stripUndefined(body),
      ...(password !== undefined && { passwordHash: await hashPassword(password) }),
    });
    if (password !== undefined || body.enabled === false) tokens.revokeUser(String(id));
    return c.json(user);
  });

  routes.delete('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    await keepAnAdmin(store, id);
    await store.users.delete(id);
    tokens.revokeUser(String(id));
    return c.body(null, 204);
  });

  return routes;
}

/** Refuses a change that would leave no enabled admin. */
async function keepAnAdmin(store: Store, id: number): Promise<void> {
  const user = await store.users.get(id);
  if (user?.role === 'admin' && user.enabled && (await store.users.countAdmins({ enabled: true })) <= 1) {
    throw new MuonError('MUON_ERR_CONFLICT', 'this is the last enabled admin');
  }
}
