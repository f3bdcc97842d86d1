// ACME in the server configuration: off unless a directory URL is set; from the file or the
// environment; renewBeforeDays defaults to 30; a CA file is resolved against the YAML file; and
// ACME needs the shared HTTP port, where its HTTP-01 challenges are answered.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { configErrorOf, tempDir, tempFile } from './helpers.ts';

const LE = 'https://acme-v02.api.letsencrypt.org/directory';

test('ACME is off unless a directory URL is set', async (t) => {
  assert.equal((await loadServerConfig({ env: {}, cwd: await tempDir(t) })).acme, undefined);
  const noUrl = await loadServerConfig({ env: { MUON_ACME_EMAIL: 'ops@example.com' } });
  assert.deepEqual(noUrl.acme, { email: 'ops@example.com', renewBeforeDays: 30 });
});

test('its settings come from the file or the environment; the CA file is found beside the YAML', async (t) => {
  const file = await tempFile(
    t,
    `http: { port: 80 }\nacme: { directoryUrl: "${LE}", email: ops@example.com, caCertificate: ca/root.pem }\n`,
  );
  const fromFile = await loadServerConfig({ file, env: {} });
  assert.deepEqual(fromFile.acme, {
    directoryUrl: LE,
    email: 'ops@example.com',
    renewBeforeDays: 30,
    caCertificate: join(dirname(file), 'ca/root.pem'),
  });
  const fromEnv = await loadServerConfig({
    env: {
      MUON_HTTP_PORT: '80',
      MUON_ACME_DIRECTORY_URL: 'https://ca.internal:14000/dir',
      MUON_ACME_EMAIL: 'pki@example.com',
      MUON_ACME_RENEW_BEFORE_DAYS: '10',
      MUON_ACME_CA_CERTIFICATE: '/etc/muon/ca.pem',
    },
  });
  assert.deepEqual(fromEnv.acme, {
    directoryUrl: 'https://ca.internal:14000/dir',
    email: 'pki@example.com',
    renewBeforeDays: 10,
    caCertificate: '/etc/muon/ca.pem',
  });
});

test('ACME needs the HTTP port and valid values', async () => {
  assert.match(
    await configErrorOf(loadServerConfig({ env: { MUON_ACME_DIRECTORY_URL: LE } })),
    /acme\.directoryUrl: needs the shared HTTP port \(http\.port\)/,
  );
  const bad = await configErrorOf(
    loadServerConfig({
      env: {
        MUON_HTTP_PORT: '80',
        MUON_ACME_DIRECTORY_URL: 'ftp://ca.example/dir',
        MUON_ACME_EMAIL: 'not an address',
        MUON_ACME_RENEW_BEFORE_DAYS: '0',
      },
    }),
  );
  assert.match(bad, /acme\.directoryUrl: expected the http\(s\) URL of an ACME directory/);
  assert.match(bad, /acme\.email: expected an e-mail address/);
  assert.match(bad, /acme\.renewBeforeDays: must be 1–365 \(days\)/);
});
