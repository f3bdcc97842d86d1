// The shared HTTP and HTTPS ports in the server configuration: off unless set, from the file, the
// environment or flags (flags win), a port is required once the section is there, and neither may
// take a port the tunnel, the admin API or a mapping already uses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { configErrorOf, KEY_A, tempDir, tempFile } from './helpers.ts';

test('the HTTP and HTTPS ports are off unless set', async (t) => {
  const config = await loadServerConfig({ env: {}, cwd: await tempDir(t) });
  assert.equal(config.http, undefined);
  assert.equal(config.https, undefined);
});

test('they come from the file, the environment and flags, in that order of weakness', async (t) => {
  const file = await tempFile(t, 'http: { port: 8080 }\nhttps: { host: 127.0.0.1, port: 8443 }\n');
  const fromFile = await loadServerConfig({ file, env: {} });
  assert.deepEqual(fromFile.http, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(fromFile.https, { host: '127.0.0.1', port: 8443 });
  const overridden = await loadServerConfig({
    file,
    env: { MUON_HTTP_PORT: '8081', MUON_HTTPS_HOST: '::' },
    flags: { httpsPort: '9444', httpHost: '10.0.0.1' },
  });
  assert.deepEqual(overridden.http, { host: '10.0.0.1', port: 8081 });
  assert.deepEqual(overridden.https, { host: '::', port: 9444 });
});

test('a port is required, valid, and not anyone else’s', async (t) => {
  assert.match(
    await configErrorOf(loadServerConfig({ env: { MUON_HTTP_HOST: '0.0.0.0' } })),
    /http\.port: required/,
  );
  assert.match(
    await configErrorOf(loadServerConfig({ env: { MUON_HTTPS_PORT: '70000' } })),
    /https\.port: must be 1–65535 \(from MUON_HTTPS_PORT\)/,
  );
  assert.match(
    await configErrorOf(loadServerConfig({ env: { MUON_HTTPS_PORT: '9443' } })),
    /https\.port: 9443 is already used by tunnel\.port/,
  );
  assert.match(
    await configErrorOf(loadServerConfig({ env: { MUON_HTTP_PORT: '9080', MUON_HTTPS_PORT: '9080' } })),
    /http\.port: 9080 is already used by admin\.port[\s\S]*https\.port: 9080 is already used by admin\.port/,
  );
  const file = await tempFile(
    t,
    `http: { port: 8080 }\nlicenses:\n  - name: lab\n    key: "${KEY_A}"\n    mappings: [{ port: 8080, target: "127.0.0.1:80" }]\n`,
  );
  assert.match(
    await configErrorOf(loadServerConfig({ file, env: {} })),
    /8080 \(license "lab"\) is already used by http\.port/,
  );
  assert.match(
    await configErrorOf(
      loadServerConfig({ env: {}, file: await tempFile(t, 'http: { port: 80, tls: true }\n') }),
    ),
    /http\.tls: unknown setting/,
  );
});
