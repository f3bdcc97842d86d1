// The admin HTTP application: JSON API under /api, /healthz and /metrics. Errors become
// `{ error: { code, message, field? } }` with a status per code; nothing leaks a stack trace.

import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FailureLimiter } from '../net/failure-limiter.ts';
import type { Store } from '../store/store.ts';
import type { Account, Accounts } from './accounts.ts';
import { authRoutes, metricsAccess } from './auth-routes.ts';
import { type ConsoleAssets, consoleMissing } from './console-assets.ts';
import { domainRoutes } from './domain-routes.ts';
import { type ErrorBody, statusOf } from './http-errors.ts';
import { licenseRoutes, mappingRoutes } from './license-routes.ts';
import type { Metrics } from './metrics.ts';
import { portGroupRoutes, portPoolRoutes } from './port-routes.ts';
import { reportRoutes } from './report-routes.ts';
import { securityGroupRoutes } from './security-group-routes.ts';
import { type ServerInfo, serverRoutes } from './server-routes.ts';
import type { SessionTokens } from './session-tokens.ts';
import { userRoutes } from './user-routes.ts';
import { checkQuery } from './validate.ts';

export interface AdminDeps {
  accounts: Accounts;
  tokens: SessionTokens;
  /** Failed logins per client address and per username. */
  loginFailures: FailureLimiter;
  metrics: Metrics;
  logger: Logger;
  /**
   * The console is served over HTTPS (admin.tls): the session cookie is Secure and responses
   * carry HSTS.
   */
  secureCookies: boolean;
  /** The store behind the management endpoints (licenses, mappings). */
  store?: Store;
  /**
   * Accounts that still have a generated password (the first admin after the first start):
   * login tells the console to ask for a new one. Forgotten at restart, like the sessions.
   */
  generatedPasswords?: Set<string>;
  /** Lets a Prometheus scraper read /metrics with `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /** Tunnel addresses and certificate fingerprint, for the console's client command. */
  serverInfo?: () => ServerInfo;
  /**
   * The built web console, served on every GET outside /api; null when it was not built (a
   * page says how to build it); absent for an API-only app.
   */
  console?: ConsoleAssets | null;
  /** The server gets certificates from ACME (`acme.directoryUrl`): domains may set `acme: true`. */
  acmeEnabled?: boolean;
}

export interface AdminEnv {
  Variables: { account: Account; token: string };
}

export type AdminApp = Hono<AdminEnv>;

const MAX_BODY_BYTES = 64 * 1024;
/** One year, without includeSubDomains: the admin address says nothing about its neighbours. */
const HSTS = 'max-age=31536000';

export function createAdminApp(deps: AdminDeps): AdminApp {
  const app = new Hono<AdminEnv>();
  // HSTS only when this server speaks HTTPS itself: browsers ignore it over plain HTTP, and a
  // TLS-terminating proxy in front decides its own.
  app.use(secureHeaders({ strictTransportSecurity: deps.secureCookies ? HSTS : false }));
  app.use(
    '/api/*',
    bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => failure('MUON_ERR_PAYLOAD_TOO_LARGE') }),
    checkQuery,
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Metrics name ports and counts: for admins, or a scraper holding the configured token.
  app.get('/metrics', metricsAccess(deps), async (c) =>
    c.body(await deps.metrics.text(), 200, { 'content-type': deps.metrics.contentType }),
  );
  app.route('/api/auth', authRoutes(deps));
  if (deps.store) {
    const withStore = { ...deps, store: deps.store };
    app.route('/api/users', userRoutes(withStore));
    app.route('/api/port-pool', portPoolRoutes(withStore));
    app.route('/api/port-groups', portGroupRoutes(withStore));
    app.route('/api/licenses', licenseRoutes(withStore));
    app.route('/api/mappings', mappingRoutes(withStore));
    app.route('/api/security-groups', securityGroupRoutes(withStore));
    app.route('/api/domains', domainRoutes(withStore));
    app.route('/api/reports', reportRoutes(withStore));
  }
  if (deps.serverInfo) app.route('/api/server', serverRoutes({ ...deps, serverInfo: deps.serverInfo }));
  if (deps.console !== undefined) {
    const assets = deps.console;
    app.on(['GET', 'HEAD'], '*', (c, next) => {
      if (c.req.path.startsWith('/api/')) return next();
      return assets ? assets.serve(c) : consoleMissing(c);
    });
  }

  app.notFound((c) =>
    respond(c, new MuonError('MUON_ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)),
  );
  app.onError((error, c) => {
    if (!(error instanceof MuonError)) {
      deps.logger.error({ err: error.message, path: c.req.path }, 'admin API request failed');
    }
    return respond(c, error);
  });
  return app;
}

function failure(code: ErrorCode): never {
  throw new MuonError(code);
}

function respond(c: Context, error: Error): Response {
  const known = error instanceof MuonError ? error : new MuonError('MUON_ERR_INTERNAL');
  const body: ErrorBody = { error: { code: known.code, message: known.message } };
  const field = known.field ?? fieldNamedIn(known.message);
  if (field !== undefined) body.error.field = field;
  return c.json(body, statusOf(known.code) as 400);
}

/** The store names the field an error concerns as the message's prefix: "name: already taken". */
function fieldNamedIn(message: string): string | undefined {
  return /^([a-z][A-Za-z0-9]{0,40}): /.exec(message)?.[1];
}

/** The address of the HTTP client (for rate limits and logs). */
export function clientAddress(c: Context): string {
  return getConnInfo(c).remote.address ?? '';
}
