// What a client needs to connect to this server, for the console's "connect a client" panel:
// the tunnel addresses and the TLS certificate fingerprint that clients pin. Never a key.

import { Hono } from 'hono';
import type { AdminDeps, AdminEnv } from './app.ts';
import { requireAccount } from './auth-routes.ts';

export interface ServerInfo {
  version: string;
  /** The TLS tunnel listener (host may be a wildcard such as 0.0.0.0). */
  tunnel: { host: string; port: number };
  /** The plain-TCP tunnel listener, when enabled. */
  plain: { host: string; port: number } | null;
  /** SHA-256 fingerprint of the tunnel certificate, as `muon client --fingerprint` takes it. */
  fingerprint: string;
}

export function serverRoutes(deps: AdminDeps & { serverInfo: () => ServerInfo }): Hono<AdminEnv> {
  const routes = new Hono<AdminEnv>();
  routes.use('*', requireAccount(deps));
  routes.get('/', (c) => c.json(deps.serverInfo()));
  return routes;
}
