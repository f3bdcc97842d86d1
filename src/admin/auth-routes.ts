// Login, logout, the current user, and password change. Sessions are bearer tokens, also set
// as an HttpOnly SameSite=Strict cookie for the console. Failed logins are limited per client
// address and per username; a wrong username and a wrong password look the same.

import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { Account } from './accounts.ts';
import { type AdminDeps, type AdminEnv, clientAddress } from './app.ts';
import { checkPassword, hashPassword } from './passwords.ts';
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
    const session = token ? deps.tokens.use(token) : undefined;
    const account = session ? await deps.accounts.get(session.userId) : undefined;
    if (!token || !account?.enabled) throw new MuonError('MUON_ERR_UNAUTHORIZED', 'log in first');
    c.set('account', account);
    c.set('token', token);
    await next();
  };
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
    void recordLogin(deps, account, username, address, ok && account?.enabled === true);
    if (!account || !ok || !account.enabled) {
      deps.loginFailures.fail(address);
      deps.loginFailures.fail(userKey);
      deps.logger.warn({ code: 'MUON_ERR_AUTH_FAILED', remote: address }, 'admin login failed');
      throw new MuonError('MUON_ERR_AUTH_FAILED', 'wrong username or password');
    }
    const token = startSession(c, deps, account.id);
    deps.logger.info({ user: account.username, remote: address }, 'admin login');
    return c.json({ token, account: accountView(account) });
  });

  routes.use('/logout', requireAccount(deps));
  routes.post('/logout', (c) => {
    deps.tokens.revoke(c.get('token'));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });

  routes.use('/me', requireAccount(deps));
  routes.get('/me', (c) => c.json({ account: accountView(c.get('account')) }));

  routes.use('/password', requireAccount(deps));
  routes.post('/password', async (c) => {
    const { current, next } = await parseJson(c, PasswordBody);
    const account = c.get('account');
    if (!account.passwordHash || !(await checkPassword(account.passwordHash, current))) {
      throw new MuonError('MUON_ERR_AUTH_FAILED', 'the current password is wrong');
    }
    await deps.accounts.setPasswordHash(account.id, await hashPassword(next));
    deps.tokens.revokeUser(account.id);
    const token = startSession(c, deps, account.id);
    return c.json({ token });
  });

  return routes;
}

/** Writes the attempt to the store's login log, if there is a store; never fails the login. */
async function recordLogin(
  deps: AdminDeps,
  account: Account | undefined,
  username: string,
  remoteAddress: string,
  success: boolean,
): Promise<void> {
  if (!deps.store) return;
  await deps.store.logins
    .record({ userId: account ? Number(account.id) : null, username, remoteAddress, success })
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

function bearer(c: Context): string | undefined {
  const header = c.req.header('authorization');
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}
