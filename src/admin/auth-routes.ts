// Login, logout, the current user, and password change. Sessions are bearer tokens, also set
// as an HttpOnly SameSite=Strict cookie for the console. Failed logins are limited per client
// address and per username; a wrong username and a wrong password look the same.

import { createHash, timingSafeEqual } from 'node:crypto';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Account } from './accounts.ts';
import { type AdminDeps, type AdminEnv, clientAddress } from './app.ts';
import { checkPassword, hashPassword } from './passwords.ts';
import { requireAdmin } from './route-helpers.ts';
import { parseJson } from './validate.ts';

export const SESSION_COOKIE = 'muon_session';

const LoginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
const PasswordBody = z.object({ current: z.string().min(1).max(1024), next: z.string().min(12).max(1024) });

/** The public view of an account: never the password hash. */
export function accountView(account: Account) {
  return { id: account.id, username: account.username, role: account.role, enabled: account.enabled };
}

/** Requires a live session; puts the account and token on the context. */
export function requireAccount(deps: AdminDeps): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const token = bearer(c) ?? getCookie(c, SESSION_COOKIE);
    const account = await sessionAccount(c, deps);
    if (!token || !account) throw new MuonError('MUON_ERR_UNAUTHORIZED', 'log in first');
    if (!bearer(c) && crossSite(c)) {
      throw new MuonError('MUON_ERR_FORBIDDEN', 'a change from another site is refused (cookie session)');
    }
    c.set('account', account);
    c.set('token', token);
    await next();
  };
}

/** /metrics: the configured scraper token, or an admin's session. */
export function metricsAccess(deps: AdminDeps): MiddlewareHandler<AdminEnv> {
  const session = requireAccount(deps);
  const expected = deps.metricsToken === undefined ? undefined : digest(deps.metricsToken);
  return async (c, next) => {
    const given = bearer(c);
    if (expected && given !== undefined && timingSafeEqual(digest(given), expected)) {
      await next();
      return;
    }
    await session(c, async () => {
      await requireAdmin(c, next);
    });
  };
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The enabled account of the request's live session, if any. */
async function sessionAccount(c: Context, deps: AdminDeps): Promise<Account | undefined> {
  const token = bearer(c) ?? getCookie(c, SESSION_COOKIE);
  const session = token ? deps.tokens.use(token) : undefined;
  const account = session ? await deps.accounts.get(session.userId) : undefined;
  return account?.enabled ? account : undefined;
}

export function authRoutes(deps: AdminDeps): Hono<AdminEnv> {
  const routes = new Hono<AdminEnv>();

  routes.post('/login', async (c) => {
    const { username, password } = await parseJson(c, LoginBody);
    const address = clientAddress(c);
    const userKey = `user:${username.toLowerCase()}`;
    if (deps.loginFailures.blocked(address) || deps.loginFailures.blocked(userKey)) {
      throw new MuonError('MUON_ERR_RATE_LIMITED', 'too many failed logins; try again later');
    }
    const account = await deps.accounts.findByUsername(username);
    const ok = account?.passwordHash ? await checkPassword(account.passwordHash, password) : false;
    // The log (admins only) says why; the answer to the client does not.
    const reason = !account
      ? 'unknown user'
      : !ok
        ? 'wrong password'
        : !account.enabled
          ? 'user disabled'
          : null;
    await recordLogin(deps, account, username, address, reason);
    if (reason !== null || !account) {
      deps.loginFailures.fail(address);
      deps.loginFailures.fail(userKey);
      deps.logger.warn({ code: 'MUON_ERR_AUTH_FAILED', remote: address }, 'admin login failed');
      throw new MuonError('MUON_ERR_AUTH_FAILED', 'wrong username or password');
    }
    const token = startSession(c, deps, account.id);
    deps.logger.info({ user: account.username, remote: address }, 'admin login');
    return c.json({ token, account: accountView(account), mustChangePassword: mustChange(deps, account) });
  });

  routes.use('/logout', requireAccount(deps));
  routes.post('/logout', (c) => {
    deps.tokens.revoke(c.get('token'));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });

  // Like /me, but a missing session is an answer rather than an error: the console asks this
  // at every load, and a 401 there would only be noise in the browser's console.
  routes.get('/session', async (c) => {
    const account = await sessionAccount(c, deps);
    return c.json({
      account: account ? accountView(account) : null,
      mustChangePassword: account ? mustChange(deps, account) : false,
    });
  });

  routes.use('/me', requireAccount(deps));
  routes.get('/me', (c) =>
    c.json({
      account: accountView(c.get('account')),
      mustChangePassword: mustChange(deps, c.get('account')),
    }),
  );

  routes.use('/password', requireAccount(deps));
  routes.post('/password', async (c) => {
    const { current, next } = await parseJson(c, PasswordBody);
    const account = c.get('account');
    if (!account.passwordHash || !(await checkPassword(account.passwordHash, current))) {
      throw new MuonError('MUON_ERR_AUTH_FAILED', 'the current password is wrong');
    }
    await deps.accounts.setPasswordHash(account.id, await hashPassword(next));
    deps.generatedPasswords?.delete(account.id);
    deps.tokens.revokeUser(account.id);
    const token = startSession(c, deps, account.id);
    return c.json({ token });
  });

  return routes;
}

/** True while the account still has the password the server generated at its first start. */
function mustChange(deps: AdminDeps, account: Account): boolean {
  return deps.generatedPasswords?.has(account.id) ?? false;
}

/** Writes the attempt to the store's login log, if there is a store; never fails the login. */
async function recordLogin(
  deps: AdminDeps,
  account: Account | undefined,
  username: string,
  remoteAddress: string,
  failure: string | null,
): Promise<void> {
  if (!deps.store) return;
  await deps.store.logins
    .record({
      userId: account ? Number(account.id) : null,
      username,
      remoteAddress,
      success: failure === null,
      reason: failure,
    })
    .catch((error: unknown) =>
      deps.logger.warn({ err: (error as Error).message }, 'could not record a login'),
    );
}

/** Issues a session token and sets it as the console's cookie too. */
function startSession(c: Context, deps: AdminDeps, accountId: string): string {
  const token = deps.tokens.issue(accountId);
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.secureCookies,
    path: '/',
  });
  return token;
}

/**
 * A state-changing request whose Origin is not this server. The SameSite=Strict cookie already
 * keeps other sites' requests from carrying the session; this check holds even where a browser
 * or a proxy gets SameSite wrong.
 */
function crossSite(c: Context): boolean {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== c.req.header('host');
  } catch {
    return true;
  }
}

function bearer(c: Context): string | undefined {
  const header = c.req.header('authorization');
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}
