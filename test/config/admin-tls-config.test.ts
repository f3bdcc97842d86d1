// `admin.tls`: off by default; `true` (the tunnel's certificate) from the file, MUON_ADMIN_TLS or
// --admin-tls; `{ cert, key }` files resolved like every other path; wrong values named.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { problemsOf, tempDir, tempFile } from './helpers.ts';

test('admin.tls is off unless set', async (t) => {
  const config = await loadServerConfig({ env: {}, cwd: await tempDir(t) });
  assert.equal(config.admin.tls, undefined);
  const off = await loadServerConfig({ file: await tempFile(t, 'admin: { tls: false }\n'), env: {} });
  assert.equal(off.admin.tls, false);
});

test('admin.tls: true, from the file, the environment or the flag', async (t) => {
  const file = await tempFile(t, 'admin: { tls: true }\n');
  assert.equal((await loadServerConfig({ file, env: {} })).admin.tls, true);
  assert.equal((await loadServerConfig({ env: { MUON_ADMIN_TLS: 'true' } })).admin.tls, true);
  assert.equal((await loadServerConfig({ env: {}, flags: { adminTls: true } })).admin.tls, true);
  // The environment and the flag replace the file's setting as a whole.
  const files = await tempFile(t, 'admin: { tls: { cert: a.crt, key: a.key } }\n');
  assert.equal((await loadServerConfig({ file: files, env: { MUON_ADMIN_TLS: 'false' } })).admin.tls, false);
  assert.equal(
    (await loadServerConfig({ file, env: { MUON_ADMIN_TLS: '' } })).admin.tls,
    true,
    'empty = unset',
  );
});

test('admin.tls certificate files are resolved against the directory of the config file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'muon.yaml');
  await writeFile(file, 'admin:\n  tls:\n    cert: certs/admin.crt\n    key: /etc/muon/admin.key\n');
  const config = await loadServerConfig({ file, env: {}, cwd: '/somewhere/else' });
  assert.deepEqual(config.admin, {
    enabled: true,
    host: '127.0.0.1',
    port: 9080,
    tls: { cert: join(dir, 'certs/admin.crt'), key: '/etc/muon/admin.key' },
  });
});

test('wrong admin.tls values are named, with their source', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['admin: { tls: yes }', ['admin.tls: expected true, false or { cert: <file>, key: <file> }']],
    ['admin: { tls: 1 }', ['admin.tls: expected true, false or { cert: <file>, key: <file> }']],
    ['admin: { tls: [a.crt, a.key] }', ['admin.tls: expected true, false or { cert: <file>, key: <file> }']],
    ['admin: { tls: { cert: a.crt } }', ['admin.tls.key: required']],
    ['admin: { tls: { cert: a.crt, key: "" } }', ['admin.tls.key: expected a file path']],
    [
      'admin: { tls: { cert: a.crt, kye: a.key } }',
      ['admin.tls.key: required', 'admin.tls.kye: unknown setting (did you mean "key"?)'],
    ],
  ];
  for (const [yaml, problems] of cases) {
    assert.deepEqual(
      await problemsOf(loadServerConfig({ file: await tempFile(t, `${yaml}\n`), env: {} })),
      problems,
      yaml,
    );
  }
  assert.deepEqual(await problemsOf(loadServerConfig({ env: { MUON_ADMIN_TLS: 'on' } })), [
    'admin.tls: expected true, false or { cert: <file>, key: <file> } (from MUON_ADMIN_TLS)',
  ]);
});
