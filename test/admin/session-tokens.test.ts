import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPassword, generatePassword, hashPassword } from '../../src/admin/passwords.ts';
import { SessionTokens } from '../../src/admin/session-tokens.ts';

test('a token works until it sits idle past idleMs', () => {
  let now = 0;
  const tokens = new SessionTokens({ idleMs: 1000, maxAgeMs: 10_000, now: () => now });
  const token = tokens.issue('u1');
  now = 999;
  assert.equal(tokens.use(token)?.userId, 'u1');
  now = 1998;
  assert.equal(tokens.use(token)?.userId, 'u1', 'each use extends the idle expiry');
  now = 2998;
  assert.equal(tokens.use(token), undefined);
});

test('a token dies at maxAgeMs however often it is used', () => {
  let now = 0;
  const tokens = new SessionTokens({ idleMs: 1000, maxAgeMs: 2500, now: () => now });
  const token = tokens.issue('u1');
  for (now = 500; now < 2500; now += 500) assert.ok(tokens.use(token));
  now = 2500;
  assert.equal(tokens.use(token), undefined);
});

test('revoke and revokeUser end sessions; unknown tokens are refused', () => {
  const tokens = new SessionTokens({ idleMs: 60_000, maxAgeMs: 60_000 });
  const a = tokens.issue('alice');
  const a2 = tokens.issue('alice');
  const b = tokens.issue('bob');
  tokens.revoke(a);
  assert.equal(tokens.use(a), undefined);
  assert.ok(tokens.use(a2));
  tokens.revokeUser('alice');
  assert.equal(tokens.use(a2), undefined);
  assert.ok(tokens.use(b));
  assert.equal(tokens.use('not-a-token'), undefined);
});

test('expired sessions are swept when new ones are issued', () => {
  let now = 0;
  const tokens = new SessionTokens({ idleMs: 100, maxAgeMs: 1000, now: () => now });
  for (let i = 0; i < 50; i++) tokens.issue(`u${i}`);
  now = 200;
  tokens.issue('fresh');
  assert.equal(tokens.size, 1);
});

test('passwords hash with argon2id and verify; wrong passwords and malformed hashes fail', async () => {
  const password = generatePassword();
  assert.equal(password.length, 20);
  const stored = await hashPassword(password);
  assert.match(stored, /^\$argon2id\$/);
  assert.equal(stored.includes(password), false);
  assert.equal(await checkPassword(stored, password), true);
  assert.equal(await checkPassword(stored, `${password}x`), false);
  assert.equal(await checkPassword('not-a-hash', password), false);
});
