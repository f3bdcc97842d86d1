// Domains for HTTP and HTTPS mappings, for admins only: base domains under which mappings get
// host names, each with an optional PEM certificate and private key (checked on upload: the key
// matches, the certificate covers the domain, it has not expired) or a certificate from ACME
// (`acme: true`, when the server has an ACME directory). Answers show the certificate's metadata
// and the ACME status, never the key. Changes reach the HTTP router at once.

import { Hono } from 'hono';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';
import { idOf, pageOf, requireAdmin, stripUndefined } from './route-helpers.ts';
import { parseJson } from './validate.ts';

export const NewDomainBody = z.strictObject({
  name: z.string().trim().min(1).max(253),
  forceHttps: z.boolean().optional(),
  enabled: z.boolean().optional(),
  description: z.string().max(500).nullable().optional(),
  /** PEM: the certificate, then its chain. With privateKey, or both null to remove them. */
  certificate: z
    .string()
    .max(48 * 1024)
    .nullable()
    .optional(),
  privateKey: z
    .string()
    .max(12 * 1024)
    .nullable()
    .optional(),
  /** Obtain and renew the certificate by ACME (HTTP-01) instead of uploads. */
  acme: z.boolean().optional(),
});
export const DomainPatchBody = NewDomainBody.omit({ name: true }).partial();

export function domainRoutes(deps: AdminDeps & { store: Store }): Hono<AdminEnv> {
  const { store } = deps;
  const checkAcme = (acme: boolean | undefined) => {
    if (acme && !deps.acmeEnabled) {
      throw new MuonError(
        'MUON_ERR_INVALID_INPUT',
        'acme: this server has no ACME certificate authority configured (acme.directoryUrl)',
        { field: 'acme' },
      );
    }
  };
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps), requireAdmin);

  routes.get('/', async (c) => {
    const q = c.req.query();
    return c.json(await store.domains.list({ ...pageOf(q), ...(q.search ? { search: q.search } : {}) }));
  });
  routes.post('/', async (c) => {
    const body = await parseJson(c, NewDomainBody);
    checkAcme(body.acme);
    return c.json(await store.domains.create(stripUndefined(body)), 201);
  });
  routes.get('/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const domain = await store.domains.get(id);
    if (!domain) throw new MuonError('MUON_ERR_NOT_FOUND', `domain ${id} does not exist`);
    return c.json(domain);
  });
  routes.patch('/:id', async (c) => {
    const body = await parseJson(c, DomainPatchBody);
    checkAcme(body.acme);
    return c.json(await store.domains.update(idOf(c.req.param('id')), stripUndefined(body)));
  });
  routes.delete('/:id', async (c) => {
    await store.domains.delete(idOf(c.req.param('id')));
    return c.body(null, 204);
  });
  return routes;
}
