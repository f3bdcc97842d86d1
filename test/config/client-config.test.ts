import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { loadClientConfig, toClientOptions } from '../../src/config/client-config.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';
import { configErrorOf, KEY_A, KEY_B, problemsOf, tempDir, tempFile } from './helpers.ts';

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';

test('minimal client: server, license and a fingerprint; defaults for the rest', async (t) => {
  const file = await tempFile(
    t,
    `server: example.com:9443\nlicense: "${KEY_A}"\ntls: { fingerprint: "${FP}" }\n`,
  );
  const config = await loadClientConfig({ file, env: {} });
  assert.deepEqual(config, {
    server: { host: 'example.com', port: 9443 },
    license: KEY_A,
    tls: { fingerprint: FP },
    pool: { minIdle: 8, maxChannels: 16_384, mux: true, raw: true },
    reconnect: { initialDelay: 500, maxDelay: 30_000 },
    connectTimeout: 10_000,
    handshakeTimeout: 10_000,
    log: { level: 'info' },
  });
  assert.deepEqual(toClientOptions(config), {
    server: { host: 'example.com', port: 9443 },
    tls: { fingerprint: FP },
    licenseKey: KEY_A,
    minIdleChannels: CLIENT_DEFAULTS.minIdleChannels,
    maxChannels: CLIENT_DEFAULTS.maxChannels,
    targetConnectTimeoutMs: CLIENT_DEFAULTS.targetConnectTimeoutMs,
    handshakeTimeoutMs: CLIENT_DEFAULTS.handshakeTimeoutMs,
    reconnectInitialDelayMs: CLIENT_DEFAULTS.reconnectInitialDelayMs,
    reconnectMaxDelayMs: CLIENT_DEFAULTS.reconnectMaxDelayMs,
    maxFrameSize: CLIENT_DEFAULTS.maxFrameSize,
    mux: true,
    raw: true,
  });
});

test('every client key from the file', async (t) => {
  const file = await tempFile(
    t,
    `server: "[2001:db8::1]:443"
license: "${KEY_A}"
tls: { fingerprint: "${FP}", servername: tunnel.example.com }
plain: false
pool: { minIdle: 2, maxChannels: 100 }
reconnect: { initialDelay: 1s, maxDelay: 1m }
connectTimeout: 3s
log: { level: warn }
`,
  );
  const options = toClientOptions(await loadClientConfig({ file, env: {} }));
  assert.deepEqual(options.server, { host: '2001:db8::1', port: 443 });
  assert.deepEqual(options.tls, { fingerprint: FP, servername: 'tunnel.example.com' });
  assert.equal(options.minIdleChannels, 2);
  assert.equal(options.maxChannels, 100);
  assert.equal(options.reconnectInitialDelayMs, 1000);
  assert.equal(options.reconnectMaxDelayMs, 60_000);
  assert.equal(options.targetConnectTimeoutMs, 3000);
});

test('fingerprints are accepted in the usual forms and normalised', async () => {
  const bare = FP.replaceAll(':', '').toLowerCase();
  for (const form of [FP, FP.toLowerCase(), bare, `sha256:${bare}`, ` ${FP} `]) {
    const config = await loadClientConfig({
      env: { MUON_SERVER: 'h:1', MUON_LICENSE: KEY_A, MUON_FINGERPRINT: form },
    });
    assert.deepEqual(config.tls, { fingerprint: FP }, form);
  }
  for (const bad of ['AB:CD', `${FP}:00`, bare.slice(1), 'ZZ'.repeat(32), `A${FP.slice(1, -1)}`]) {
    assert.deepEqual(
      await problemsOf(
        loadClientConfig({ env: { MUON_SERVER: 'h:1', MUON_LICENSE: KEY_A, MUON_FINGERPRINT: bad } }),
      ),
      [
        'tls.fingerprint: expected a SHA-256 fingerprint: 32 hex pairs like AB:CD:… (as printed by "muon server") (from MUON_FINGERPRINT)',
      ],
      bad,
    );
  }
});

test('server and license are required, and say where to set them', async () => {
  assert.deepEqual(await problemsOf(loadClientConfig({ env: {}, flags: { plain: true } })), [
    'server: required (host:port of the Muon server; set server:, MUON_SERVER or --server)',
    'license: required (the license key from the server operator; set license:, MUON_LICENSE or --license)',
  ]);
});

test('a client that cannot verify the server is an error explaining the three choices', async () => {
  const message = await configErrorOf(
    loadClientConfig({ env: { MUON_SERVER: 'h:9443', MUON_LICENSE: KEY_A } }),
  );
  assert.match(message, /^tls: /);
  assert.match(message, /tls\.fingerprint/);
  assert.match(message, /muon server" prints at start/);
  assert.match(message, /tls\.ca/);
  assert.match(message, /plain: true/);
  assert.ok(!message.includes('\n'));
});

test('plain TCP only when chosen explicitly, and not together with TLS settings', async () => {
  const env = { MUON_SERVER: 'h:9000', MUON_LICENSE: KEY_A };
  const plain = await loadClientConfig({ env, flags: { plain: true } });
  assert.equal(plain.tls, false);
  assert.equal(toClientOptions(plain).tls, false);

  assert.deepEqual(
    await problemsOf(loadClientConfig({ env: { ...env, MUON_FINGERPRINT: FP }, flags: { plain: true } })),
    ['plain: cannot be combined with tls.fingerprint or tls.ca: choose TLS or plain TCP (from --plain)'],
  );
});

test('the CA file is read at load time, relative to the config file', async (t) => {
  const dir = await tempDir(t);
  const identity = await loadOrCreateTlsIdentity({ dataDir: dir }); // writes tls/server.crt
  const file = join(dir, 'client.yaml');
  await writeFile(
    file,
    `server: h:9443\nlicense: "${KEY_A}"\ntls: { ca: tls/server.crt, servername: muon-server }\n`,
  );
  const config = await loadClientConfig({ file, env: {} });
  assert.deepEqual(config.tls, {
    servername: 'muon-server',
    ca: { file: join(dir, 'tls', 'server.crt'), pem: identity.cert },
  });
  assert.deepEqual(toClientOptions(config).tls, { ca: identity.cert, servername: 'muon-server' });
});

test('a CA file without a certificate is refused', async (t) => {
  const caFile = await tempFile(
    t,
    '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    'ca.pem',
  );
  assert.deepEqual(
    await problemsOf(loadClientConfig({ env: { MUON_SERVER: 'h:1', MUON_LICENSE: KEY_A, MUON_CA: caFile } })),
    [`tls.ca: ${caFile} does not contain a PEM certificate (from MUON_CA)`],
  );
});

test('an unreadable CA file is a config error naming the file and the source', async (t) => {
  const cwd = await tempDir(t);
  assert.deepEqual(
    await problemsOf(
      loadClientConfig({
        cwd,
        env: { MUON_SERVER: 'h:1', MUON_LICENSE: KEY_A },
        flags: { ca: 'missing.pem' },
      }),
    ),
    [`tls.ca: cannot read ${join(cwd, 'missing.pem')}: no such file (from --ca)`],
  );
});

test('precedence: flags > environment > file for the client', async (t) => {
  const file = await tempFile(t, `server: file:1\nlicense: "${KEY_A}"\nplain: true\npool: { minIdle: 1 }\n`);
  const env = { MUON_SERVER: 'env:2', MUON_LICENSE: KEY_B, MUON_LOG_LEVEL: 'debug' };

  const fromEnv = await loadClientConfig({ file, env });
  assert.deepEqual(fromEnv.server, { host: 'env', port: 2 });
  assert.equal(fromEnv.license, KEY_B);
  assert.equal(fromEnv.pool.minIdle, 1);
  assert.equal(fromEnv.log.level, 'debug');

  const fromFlags = await loadClientConfig({
    file,
    env,
    flags: { server: 'flag:3', license: `${KEY_A}-flag`, minIdle: '4', logLevel: 'error' },
  });
  assert.deepEqual(fromFlags.server, { host: 'flag', port: 3 });
  assert.equal(fromFlags.license, `${KEY_A}-flag`);
  assert.equal(fromFlags.pool.minIdle, 4);
  assert.equal(fromFlags.log.level, 'error');
});

test('client validation messages never contain the license key', async (t) => {
  const file = await tempFile(
    t,
    `server: nope\nlicense: "${KEY_A}"\nplain: yes\npool: { minIdle: 10, maxChannels: 5 }\nreconnect: { initialDelay: 1m, maxDelay: 1s }\nconnectTimeout: soon\nextra: 1\n`,
  );
  const lines = await problemsOf(loadClientConfig({ file, env: {} }));
  assert.deepEqual(lines, [
    'server: expected host:port',
    'plain: expected true or false',
    'connectTimeout: expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)',
    'extra: unknown setting',
  ]);
  assert.ok(!lines.join('\n').includes(KEY_A));
});

test('cross-setting checks for the pool and reconnect delays', async (t) => {
  const file = await tempFile(
    t,
    `server: h:1\nlicense: "${KEY_A}"\nplain: true\npool: { minIdle: 10, maxChannels: 5 }\nreconnect: { initialDelay: 1m, maxDelay: 1s }\n`,
  );
  assert.deepEqual(await problemsOf(loadClientConfig({ file, env: {} })), [
    'pool.minIdle: must not exceed pool.maxChannels (5)',
    'reconnect.initialDelay: must not exceed reconnect.maxDelay (1s)',
  ]);
});

test('a short license key is refused without echoing it', async () => {
  const lines = await problemsOf(
    loadClientConfig({ env: { MUON_SERVER: 'h:1', MUON_LICENSE: 'tooshort' }, flags: { plain: true } }),
  );
  assert.deepEqual(lines, [
    'license: must be at least 16 characters (generate one with "muon keygen") (from MUON_LICENSE)',
  ]);
});
