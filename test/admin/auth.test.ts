// Logging in to the admin API: argon2id passwords, bearer tokens and cookies, throttled
// failures, a first admin created at first start, and errors with stable codes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ensureFirstAdmin } from '../../src/admin/first-admin.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startAdmin } from '../support/admin.ts';

describe('admin authentication', () => {
  test('the first start creates one admin with a generated password, shown once', async (t) => {
    const admin = await startAdmin(t);
    const password = await ensureFirstAdmin(admin.accounts);
    assert.ok(password && password.length >= 20);
    assert.equal(await ensureFirstAdmin(admin.accounts), undefined, 'not again once an admin exists');
    const login = await admin.call('POST', '/api/auth/login', { username: 'admin', password });
    assert.equal(login.status, 200);
    assert.equal(admin.log.text().includes(password), false, 'the password is never logged');
  });

  test('MUON_ADMIN_PASSWORD, when given, is the first admin password', async (t) => {
    const admin = await startAdmin(t);
    assert.equal(await ensureFirstAdmin(admin.accounts, 'from-the-environment'), undefined);
    const login = await admin.call('POST', '/api/auth/login', {
      username: 'admin',
      password: 'from-the-environment',
    });
    assert.equal(login.status, 200);
  });

  test('login returns a token and an HttpOnly SameSite=Strict cookie; /me needs it', async (t) => {
    const admin = await startAdmin(t);
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    assert.equal((await admin.call('GET', '/api/auth/me')).status, 401);

    const login = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });
    assert.equal(login.status, 200);
    assert.equal(login.json.account.username, 'root');
    assert.equal('passwordHash' in login.json.account, false);
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /muon_session=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);

    const me = await admin.call('GET', '/api/auth/me', undefined, login.json.token);
    assert.equal(me.status, 200);
    assert.equal(me.json.account.role, 'admin');

    assert.equal((await admin.call('POST', '/api/auth/logout', undefined, login.json.token)).status, 204);
    const after = await admin.call('GET', '/api/auth/me', undefined, login.json.token);
    assert.equal(after.status, 401);
    assert.equal(after.json.error.code, 'MUON_ERR_UNAUTHORIZED');
  });

  test('a cookie session refuses changes sent from another origin', async (t) => {
    const admin = await startAdmin(t);
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    const login = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const logout = (origin?: string) =>
      fetch(`${admin.url}/api/auth/logout`, {
        method: 'POST',
        headers: { cookie, ...(origin && { origin }) },
      });
    const forged = await logout('https://evil.example');
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'MUON_ERR_FORBIDDEN');
    const me = await fetch(`${admin.url}/api/auth/me`, {
      headers: { cookie, origin: 'https://evil.example' },
    });
    assert.equal(me.status, 200, 'reading is not a change');
    assert.equal((await logout(admin.url)).status, 204, 'the same origin may');
  });

  test('/metrics needs an admin session or the configured scraper token', async (t) => {
    const token = 'a-scraper-token-of-24-chars-or-more';
    const admin = await startAdmin(t, { metricsToken: token });
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    const read = (bearer?: string) =>
      fetch(`${admin.url}/metrics`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    assert.equal((await read()).status, 401);
    assert.equal((await read('a-scraper-token-of-24-chars-or-mor3')).status, 401, 'a wrong token');
    assert.equal((await read(token)).status, 200);
    const login = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });
    assert.equal((await read(login.json.token)).status, 200, 'an admin session');
  });

  test('a wrong password and an unknown user get the same answer', async (t) => {
    const admin = await startAdmin(t);
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    const wrong = await admin.call('POST', '/api/auth/login', { username: 'root', password: 'nope' });
    const unknown = await admin.call('POST', '/api/auth/login', { username: 'nobody', password: 'nope' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, unknown.json);
    assert.equal(wrong.json.error.code, 'MUON_ERR_AUTH_FAILED');
  });

  test('repeated failures are throttled with 429, even for the right password', async (t) => {
    const admin = await startAdmin(t, { maxLoginFailures: 3 });
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await admin.call('POST', '/api/auth/login', { username: 'root', password: `guess ${i}` })).status,
        401,
      );
    }
    const blocked = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.error.code, 'MUON_ERR_RATE_LIMITED');
  });

  test('changing the password ends the other sessions and requires the current one', async (t) => {
    const admin = await startAdmin(t);
    await admin.accounts.createAdmin('root', await hashPassword('correct horse battery'));
    const first = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });
    const second = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'correct horse battery',
    });

    const wrong = await admin.call(
      'POST',
      '/api/auth/password',
      { current: 'nope', next: 'a much longer new password' },
      first.json.token,
    );
    assert.equal(wrong.status, 401);
    const short = await admin.call(
      'POST',
      '/api/auth/password',
      { current: 'correct horse battery', next: 'short' },
      first.json.token,
    );
    assert.equal(short.status, 400);
    assert.equal(short.json.error.field, 'next');

    const changed = await admin.call(
      'POST',
      '/api/auth/password',
      { current: 'correct horse battery', next: 'a much longer new password' },
      first.json.token,
    );
    assert.equal(changed.status, 200);
    assert.equal((await admin.call('GET', '/api/auth/me', undefined, second.json.token)).status, 401);
    assert.equal((await admin.call('GET', '/api/auth/me', undefined, changed.json.token)).status, 200);
    const relogin = await admin.call('POST', '/api/auth/login', {
      username: 'root',
      password: 'a much longer new password',
    });
    assert.equal(relogin.status, 200);
  });

  test('bad requests get 400/404/413 with stable codes and no stack traces', async (t) => {
    const admin = await startAdmin(t);
    const notJson = await admin.call('POST', '/api/auth/login', '{not json');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.error.code, 'MUON_ERR_INVALID_INPUT');
    const missing = await admin.call('POST', '/api/auth/login', { username: 'root' });
    assert.equal(missing.json.error.field, 'password');
    const route = await admin.call('GET', '/api/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.json.error.code, 'MUON_ERR_NOT_FOUND');
    const huge = await admin.call('POST', '/api/auth/login', {
      username: 'x',
      password: 'y'.repeat(100_000),
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.json.error.code, 'MUON_ERR_PAYLOAD_TOO_LARGE');
    for (const r of [notJson, missing, route, huge])
      assert.equal(JSON.stringify(r.json).includes('    at '), false);
  });

  test('health and security headers', async (t) => {
    const admin = await startAdmin(t);
    const health = await admin.call('GET', '/healthz');
    assert.deepEqual(health.json, { status: 'ok' });
    assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(health.headers.get('x-frame-options'));
  });
});
