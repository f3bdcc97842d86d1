// Secrets never reach the logs: a full run of real `muon server` and `muon client` processes at
// debug level — a declared license key, keys created and reset over the API, admin and user
// passwords (right and wrong), session tokens, a client with a wrong key — and then every line
// either process wrote is searched for each of those secrets. Generated secrets on disk are
// readable by their owner only.

import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { echoServer, freePort } from '../support/net.ts';
import { ADMIN_PASSWORD, echoes, Fleet } from '../support/processes.ts';

const DECLARED_KEY = 'declared-license-key-Zq3xV8pLm2Rt';
const WRONG_KEY = 'wrong-license-key-Hn5wK1sD9fGj4Bc';
const WRONG_PASSWORD = 'not-the-admin-password-Xy7';
const USER_PASSWORD = 'carols-secret-password-Tk4';
const NEW_ADMIN_PASSWORD = 'admins-new-password-Wq9vB2';

test('no key, password or session token appears in any log line of a full run', async (t) => {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup));
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const server = await fleet.server({
    licenses: [{ name: 'lab', key: DECLARED_KEY, mappings: [{ port, target: `127.0.0.1:${echo.port}` }] }],
    yaml: ['log: { level: debug }'],
  });
  const client = await fleet.client(server, 'honest', DECLARED_KEY, { logLevel: 'debug' });
  await client.waitForLog('client online', { ms: 10_000 });
  assert.equal(await echoes(port, 'through the tunnel', 5000), true);

  const secrets = [
    DECLARED_KEY,
    WRONG_KEY,
    WRONG_PASSWORD,
    USER_PASSWORD,
    NEW_ADMIN_PASSWORD,
    ADMIN_PASSWORD,
  ];
  const api = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const response = await fetch(server.admin + path, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      json: (await response.json().catch(() => undefined)) as { key: string; id: number; token: string },
    };
  };
  const failed = await api('POST', '/api/auth/login', undefined, {
    username: 'admin',
    password: WRONG_PASSWORD,
  });
  assert.equal(failed.status, 401);
  const token = await server.login();
  secrets.push(token);
  const created = await api('POST', '/api/licenses', token, { name: 'via-api' });
  secrets.push(created.json.key);
  const reset = await api('POST', `/api/licenses/${created.json.id}/reset-key`, token);
  secrets.push(reset.json.key);
  assert.equal(
    (await api('POST', '/api/users', token, { username: 'carol', password: USER_PASSWORD })).status,
    201,
  );
  const carol = await api('POST', '/api/auth/login', undefined, {
    username: 'carol',
    password: USER_PASSWORD,
  });
  secrets.push(carol.json.token);
  const changed = await api('POST', '/api/auth/password', token, {
    current: ADMIN_PASSWORD,
    next: NEW_ADMIN_PASSWORD,
  });
  assert.equal(changed.status, 200);
  secrets.push(changed.json.token);

  const intruder = await fleet.client(server, 'intruder', WRONG_KEY, { logLevel: 'debug' });
  const exit = await intruder.exited;
  assert.notEqual(exit.code, 0, 'a client with a wrong key gives up (the error is permanent)');
  assert.match(intruder.output, /MUON_ERR_AUTH_FAILED/, 'and says why');

  for (const proc of fleet.processes) {
    const output = proc.output;
    assert.ok(output.length > 200, `${proc.name} wrote its log`);
    for (const secret of secrets) {
      assert.equal(
        output.includes(secret),
        false,
        `${proc.name}'s output holds a secret (${secret.slice(0, 4)}…)`,
      );
    }
  }

  const data = join(fleet.dir, 'data');
  for (const file of ['.', 'muon.db', 'tls', 'tls/server.key']) {
    const mode = (await stat(join(data, file))).mode & 0o777;
    assert.equal(mode & 0o077, 0, `${file} is private to its owner (mode ${mode.toString(8)})`);
  }
});
