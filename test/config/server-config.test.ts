import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadServerConfig, toLicenseRecords, toServerSettings } from '../../src/config/server-config.ts';
import { SERVER_DEFAULTS } from '../../src/server/options.ts';
import { configErrorOf, KEY_A, KEY_B, problemsOf, tempDir, tempFile } from './helpers.ts';

test('defaults apply when nothing is configured', async (t) => {
  const cwd = await tempDir(t);
  const config = await loadServerConfig({ env: {}, cwd });
  assert.deepEqual(config, {
    dataDir: join(cwd, 'muon-data'),
    tunnel: { host: '0.0.0.0', port: 9443, tls: undefined },
    publicHost: '0.0.0.0',
    heartbeat: { interval: 15_000, timeout: 45_000 },
    limits: {
      handshakeTimeout: 10_000,
      connectTimeout: 10_000,
      maxFrameSize: 1_048_576,
      idleChannelTimeout: 120_000,
      maxIdleChannels: 256,
      maxAuthFailuresPerMinute: 20,
      maxPendingHandshakes: 1024,
      maxChannelsPerSession: 20_000,
      maxRawSessions: 256,
      rawSessionMinBytes: 1_048_576,
      udpIdleTimeout: 60_000,
      halfClosedTimeout: 60_000,
    },
    store: { trafficFlushInterval: 10_000 },
    admin: { enabled: true, host: '127.0.0.1', port: 9080 },
    log: { level: 'info' },
    licenses: [],
  });
  const { tls, plain, ...rest } = toServerSettings(config);
  assert.deepEqual(tls, { host: '0.0.0.0', port: 9443 });
  assert.equal(plain, undefined);
  assert.deepEqual(rest, SERVER_DEFAULTS);
});

test('the store URL and the admin listener come from file, environment and flags', async (t) => {
  const file = await tempFile(
    t,
    'store: { url: "postgres://muon@db.example/muon" }\nadmin: { port: 8443 }\n',
  );
  const config = await loadServerConfig({
    file,
    env: { MUON_ADMIN_HOST: '0.0.0.0' },
    flags: { adminPort: '9999' },
  });
  assert.equal(config.store.url, 'postgres://muon@db.example/muon');
  assert.deepEqual(config.admin, { enabled: true, host: '0.0.0.0', port: 9999 });
  const bad = await configErrorOf(loadServerConfig({ env: { MUON_STORE_URL: 'mysql://x' } }));
  assert.match(bad, /store\.url: must start with postgres:\/\//);
  const clash = await configErrorOf(loadServerConfig({ env: { MUON_ADMIN_PORT: '9443' } }));
  assert.match(clash, /admin\.port: 9443 is already used by tunnel\.port/);
});

test('an empty file, or keys left without a value, mean defaults', async (t) => {
  const file = await tempFile(t, '# nothing yet\ntunnel:\nlicenses:\n');
  const config = await loadServerConfig({ file, env: {} });
  assert.equal(config.tunnel.port, 9443);
  assert.deepEqual(config.licenses, []);
});

test('the documented server file loads, with every key', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'server.yaml');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    file,
    `dataDir: ./data
tunnel:
  host: 127.0.0.1
  port: 9443
  plainPort: 9000
  tls: { cert: certs/cert.pem, key: /etc/muon/key.pem }
publicHost: 10.0.0.5
heartbeat: { interval: 10s, timeout: 1m }
limits: { handshakeTimeout: 5s, connectTimeout: 1500, maxFrameSize: 65536, idleChannelTimeout: 1h30m, maxIdleChannels: 4,
  maxAuthFailuresPerMinute: 5, maxPendingHandshakes: 64, maxChannelsPerSession: 500, maxRawSessions: 0, rawSessionMinBytes: 0, udpIdleTimeout: 30s,
  halfClosedTimeout: 20s, tcpIdleTimeout: 2h }
log: { level: debug }
licenses:
  - name: home-lab
    key: "${KEY_A}"
    uploadLimit: 1048576
    downloadLimit: 4194304
    maxConnections: 100
    mappings:
      - { protocol: tcp, port: 9101, target: "127.0.0.1:22", maxConnections: 5 }
      - { port: 9102, target: "[::1]:5432", enabled: false, uploadLimit: 65536, downloadLimit: "131072" }
      - { port: 9103, target: "127.0.0.1:8080", proxyProtocol: v2 }
      - { protocol: udp, port: 9101, target: "127.0.0.1:53", maxConnections: 50 }
  - name: office
    key: "${KEY_B}"
    enabled: false
`,
  );
  const config = await loadServerConfig({ file, env: {}, cwd: '/somewhere/else' });
  assert.equal(config.dataDir, join(dir, 'data'), 'relative to the file, not the working directory');
  assert.deepEqual(config.tunnel, {
    host: '127.0.0.1',
    port: 9443,
    plainPort: 9000,
    tls: { cert: join(dir, 'certs/cert.pem'), key: '/etc/muon/key.pem' },
  });
  assert.deepEqual(toServerSettings(config), {
    tls: { host: '127.0.0.1', port: 9443 },
    plain: { host: '127.0.0.1', port: 9000 },
    publicHost: '10.0.0.5',
    heartbeatIntervalMs: 10_000,
    heartbeatTimeoutMs: 60_000,
    handshakeTimeoutMs: 5000,
    connectTimeoutMs: 1500,
    maxFrameSize: 65_536,
    idleChannelTimeoutMs: 5_400_000,
    maxIdleChannels: 4,
    maxAuthFailuresPerMinute: 5,
    maxPendingHandshakes: 64,
    maxChannelsPerSession: 500,
    maxRawSessions: 0,
    rawSessionMinBytes: 0,
    udpIdleTimeoutMs: 30_000,
    halfClosedTimeoutMs: 20_000,
    tcpIdleTimeoutMs: 7_200_000,
  });
  assert.equal(config.log.level, 'debug');
  assert.deepEqual(toLicenseRecords(config), [
    {
      id: 'home-lab',
      name: 'home-lab',
      key: KEY_A,
      enabled: true,
      uploadLimit: 1_048_576,
      downloadLimit: 4_194_304,
      maxConnections: 100,
      mappings: [
        {
          id: 'home-lab:9101',
          protocol: 'tcp',
          publicPort: 9101,
          targetHost: '127.0.0.1',
          targetPort: 22,
          enabled: true,
          proxyProtocol: null,
          uploadLimit: null,
          downloadLimit: null,
          maxConnections: 5,
        },
        {
          id: 'home-lab:9102',
          protocol: 'tcp',
          publicPort: 9102,
          targetHost: '::1',
          targetPort: 5432,
          enabled: false,
          proxyProtocol: null,
          uploadLimit: 65_536,
          downloadLimit: 131_072,
          maxConnections: null,
        },
        {
          id: 'home-lab:9103',
          protocol: 'tcp',
          publicPort: 9103,
          targetHost: '127.0.0.1',
          targetPort: 8080,
          enabled: true,
          proxyProtocol: 'v2',
          uploadLimit: null,
          downloadLimit: null,
          maxConnections: null,
        },
        {
          id: 'home-lab:udp:9101',
          protocol: 'udp',
          publicPort: 9101,
          targetHost: '127.0.0.1',
          targetPort: 53,
          enabled: true,
          proxyProtocol: null,
          uploadLimit: null,
          downloadLimit: null,
          maxConnections: 50,
        },
      ],
    },
    {
      id: 'office',
      name: 'office',
      key: KEY_B,
      enabled: false,
      uploadLimit: null,
      downloadLimit: null,
      maxConnections: null,
      mappings: [],
    },
  ]);
});

test('precedence: flags > environment > file > defaults', async (t) => {
  const file = await tempFile(t, 'tunnel: { port: 1001, host: 10.0.0.1 }\nlog: { level: warn }\n');
  const env = { MUON_TUNNEL_PORT: '2002', MUON_LOG_LEVEL: 'debug' };

  const fromFile = await loadServerConfig({ file, env: {} });
  assert.equal(fromFile.tunnel.port, 1001);
  assert.equal(fromFile.log.level, 'warn');

  const fromEnv = await loadServerConfig({ file, env });
  assert.equal(fromEnv.tunnel.port, 2002);
  assert.equal(fromEnv.tunnel.host, '10.0.0.1', 'keys the environment does not set stay from the file');
  assert.equal(fromEnv.log.level, 'debug');

  const fromFlags = await loadServerConfig({ file, env, flags: { tunnelPort: '3003', logLevel: 'error' } });
  assert.equal(fromFlags.tunnel.port, 3003);
  assert.equal(fromFlags.log.level, 'error');
  assert.equal(fromFlags.publicHost, '0.0.0.0', 'defaults fill what no source sets');
});

test('every environment variable and flag reaches its setting', async (t) => {
  const cwd = await tempDir(t);
  const fromEnv = await loadServerConfig({
    cwd,
    env: {
      MUON_DATA_DIR: 'state',
      MUON_TUNNEL_HOST: '127.0.0.1',
      MUON_TUNNEL_PORT: '8443',
      MUON_TUNNEL_PLAIN_PORT: '8000',
      MUON_PUBLIC_HOST: '::',
      MUON_LOG_LEVEL: 'trace',
    },
  });
  assert.equal(fromEnv.dataDir, join(cwd, 'state'));
  assert.deepEqual(fromEnv.tunnel, { host: '127.0.0.1', port: 8443, plainPort: 8000, tls: undefined });
  assert.equal(fromEnv.publicHost, '::');
  assert.equal(fromEnv.log.level, 'trace');

  const fromFlags = await loadServerConfig({
    cwd,
    env: {},
    flags: {
      dataDir: '/var/lib/muon',
      host: '::1',
      tunnelPort: 7443,
      plainPort: '7000',
      publicHost: '192.0.2.1',
      logLevel: 'silent',
    },
  });
  assert.equal(fromFlags.dataDir, '/var/lib/muon');
  assert.deepEqual(fromFlags.tunnel, { host: '::1', port: 7443, plainPort: 7000, tls: undefined });
  assert.equal(fromFlags.publicHost, '192.0.2.1');
  assert.equal(fromFlags.log.level, 'silent');
});

test('an empty environment variable counts as unset', async (t) => {
  const file = await tempFile(t, 'tunnel: { port: 1001 }\n');
  const config = await loadServerConfig({ file, env: { MUON_TUNNEL_PORT: '' } });
  assert.equal(config.tunnel.port, 1001);
});

test('port errors name the setting', async (t) => {
  for (const port of ['0', '70000', 'abc', '"9443x"', '1.5', '-1']) {
    const file = await tempFile(t, `tunnel: { port: ${port} }\n`);
    assert.deepEqual(
      await problemsOf(loadServerConfig({ file, env: {} })),
      ['tunnel.port: must be 1–65535'],
      port,
    );
  }
});

test('values from the environment and flags are reported with their source', async () => {
  const lines = await problemsOf(
    loadServerConfig({
      env: { MUON_TUNNEL_PORT: '99999', MUON_LOG_LEVEL: 'loud' },
      flags: { plainPort: 'x' },
    }),
  );
  assert.deepEqual(lines, [
    'tunnel.port: must be 1–65535 (from MUON_TUNNEL_PORT)',
    'tunnel.plainPort: must be 1–65535 (from --plain-port)',
    'log.level: must be one of fatal, error, warn, info, debug, trace, silent (from MUON_LOG_LEVEL)',
  ]);
});

test('mapping errors name the license and mapping by position', async (t) => {
  const file = await tempFile(
    t,
    `licenses:
  - name: home-lab
    key: "${KEY_A}"
    mappings:
      - { port: 9101, target: "127.0.0.1:22" }
      - { port: 9102, target: "127.0.0.1" }
      - { port: 9103, target: "::1:22" }
      - { port: 9104, target: "host:99999" }
      - { protocol: quic, port: 9105, target: "h:1" }
      - { port: 0, target: 22 }
      - { enabled: maybe }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'licenses[0].mappings[1].target: expected host:port',
    'licenses[0].mappings[2].target: expected host:port (write IPv6 in brackets, like [::1]:22)',
    'licenses[0].mappings[3].target: expected host:port',
    'licenses[0].mappings[4].protocol: must be tcp or udp',
    'licenses[0].mappings[5].port: must be 1–65535',
    'licenses[0].mappings[5].target: expected host:port',
    'licenses[0].mappings[6].port: required',
    'licenses[0].mappings[6].target: required',
    'licenses[0].mappings[6].enabled: expected true or false',
  ]);
});

test('license errors: required name and key, key length, wrong types', async (t) => {
  const file = await tempFile(
    t,
    `licenses:
  - key: "${KEY_A}"
  - name: short
    key: "0123456789abcde"
  - name: numeric
    key: 1234567890123456789
  - name: ""
    key: "${KEY_B}"
    mappings: 5
  - just a string
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'licenses[0].name: required',
    'licenses[1].key: must be at least 16 characters (generate one with "muon keygen")',
    'licenses[2].key: expected a string (put the key in quotes)',
    'licenses[3].name: must not be empty',
    'licenses[3].mappings: expected a list of mappings',
    'licenses[4]: expected a mapping of settings (key: value)',
  ]);
});

test('speed and connection limits are positive integers, on licenses and mappings', async (t) => {
  const file = await tempFile(
    t,
    `licenses:
  - name: lab
    key: "${KEY_A}"
    uploadLimit: 0
    downloadLimit: 1.5
    maxConnections: many
    mappings:
      - { port: 9101, target: "127.0.0.1:22", uploadLimit: -1, downloadLimit: 2MB, maxConnections: 0 }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'licenses[0].uploadLimit: must be a positive integer (bytes per second)',
    'licenses[0].downloadLimit: must be a positive integer (bytes per second)',
    'licenses[0].maxConnections: must be a positive integer (connections)',
    'licenses[0].mappings[0].uploadLimit: must be a positive integer (bytes per second)',
    'licenses[0].mappings[0].downloadLimit: must be a positive integer (bytes per second)',
    'licenses[0].mappings[0].maxConnections: must be a positive integer (connections)',
  ]);
});

test('durations accept numbers of milliseconds and unit strings, and nothing else', async (t) => {
  const good = await tempFile(
    t,
    'heartbeat: { interval: 500ms, timeout: 2m }\nlimits: { handshakeTimeout: 2500 }\n',
  );
  const config = await loadServerConfig({ file: good, env: {} });
  assert.deepEqual(config.heartbeat, { interval: 500, timeout: 120_000 });
  assert.equal(config.limits.handshakeTimeout, 2500);

  const bad = await tempFile(
    t,
    'heartbeat: { interval: 15 seconds, timeout: 0 }\nlimits: { connectTimeout: 1000h }\n',
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file: bad, env: {} })), [
    'heartbeat.interval: expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)',
    'heartbeat.timeout: must be at least 1ms',
    'limits.connectTimeout: must be at most 596h',
  ]);
});

test('the heartbeat timeout must be longer than the interval', async (t) => {
  const file = await tempFile(t, 'heartbeat: { interval: 30s, timeout: 30s }\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'heartbeat.timeout: must be longer than heartbeat.interval (30s)',
  ]);
});

test('other limits and hosts are range-checked', async (t) => {
  const file = await tempFile(
    t,
    'limits: { maxFrameSize: 100, maxIdleChannels: -1 }\npublicHost: "not a host"\ntunnel: { host: 5 }\n',
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'tunnel.host: expected a host name or IP address',
    'publicHost: expected a host name or IP address',
    'limits.maxFrameSize: must be 65536–16777216 (bytes)',
    'limits.maxIdleChannels: must be an integer 0–65535',
  ]);
});

test('tunnel.tls needs both cert and key', async (t) => {
  const file = await tempFile(t, 'tunnel: { tls: { cert: a.pem } }\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), ['tunnel.tls.key: required']);
});

test('license names and keys are unique; the key itself is never shown', async (t) => {
  const file = await tempFile(
    t,
    `licenses:
  - { name: home-lab, key: "${KEY_A}" }
  - { name: office, key: "${KEY_A}" }
  - { name: home-lab, key: "${KEY_B}" }
`,
  );
  const message = await configErrorOf(loadServerConfig({ file, env: {} }));
  assert.deepEqual(message.split('\n'), [
    'licenses[1].key: same key as licenses[0]; every license needs its own key',
    'licenses[2].name: "home-lab" is already used by licenses[0]',
  ]);
  assert.ok(!message.includes(KEY_A));
});

test('a public port belongs to one mapping; the error names both', async (t) => {
  const file = await tempFile(
    t,
    `tunnel: { port: 9443, plainPort: 9000 }
licenses:
  - name: home-lab
    key: "${KEY_A}"
    mappings:
      - { port: 9101, target: "127.0.0.1:22" }
  - name: office
    key: "${KEY_B}"
    mappings:
      - { port: 9102, target: "127.0.0.1:80" }
      - { port: 9101, target: "127.0.0.1:81", enabled: false }
      - { port: 9443, target: "127.0.0.1:82" }
      - { port: 9000, target: "127.0.0.1:83" }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'licenses[1].mappings[1].port: 9101 (license "office") is already used by licenses[0].mappings[0] (license "home-lab")',
    'licenses[1].mappings[2].port: 9443 (license "office") is already used by tunnel.port',
    'licenses[1].mappings[3].port: 9000 (license "office") is already used by tunnel.plainPort',
  ]);
});

test('UDP ports are their own namespace; PROXY headers are for tcp mappings; values are checked', async (t) => {
  const file = await tempFile(
    t,
    `tunnel: { port: 9443 }
licenses:
  - name: home-lab
    key: "${KEY_A}"
    mappings:
      - { protocol: udp, port: 9443, target: "127.0.0.1:53" }
      - { protocol: udp, port: 9101, target: "127.0.0.1:53" }
      - { port: 9101, target: "127.0.0.1:22" }
      - { protocol: udp, port: 9101, target: "127.0.0.1:54" }
      - { protocol: udp, port: 9102, target: "127.0.0.1:55", proxyProtocol: v1 }
      - { protocol: sctp, port: 9103, target: "127.0.0.1:56" }
      - { port: 9104, target: "127.0.0.1:57", proxyProtocol: v3 }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'licenses[0].mappings[5].protocol: must be tcp or udp',
    'licenses[0].mappings[6].proxyProtocol: must be v1 or v2 (or leave it out)',
  ]);
  const valid = await tempFile(
    t,
    `tunnel: { port: 9443 }
licenses:
  - name: home-lab
    key: "${KEY_A}"
    mappings:
      - { protocol: udp, port: 9443, target: "127.0.0.1:53" }
      - { protocol: udp, port: 9101, target: "127.0.0.1:53" }
      - { port: 9101, target: "127.0.0.1:22" }
      - { protocol: udp, port: 9101, target: "127.0.0.1:54" }
      - { protocol: udp, port: 9102, target: "127.0.0.1:55", proxyProtocol: v1 }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file: valid, env: {} })), [
    'licenses[0].mappings[3].port: UDP 9101 (license "home-lab") is already used by licenses[0].mappings[1] (license "home-lab")',
    'licenses[0].mappings[4].proxyProtocol: only tcp mappings can send a PROXY protocol header',
  ]);
});

test('the plain tunnel port must differ from the TLS one', async () => {
  assert.deepEqual(
    await problemsOf(loadServerConfig({ env: {}, flags: { tunnelPort: 9000, plainPort: 9000 } })),
    ['tunnel.plainPort: must differ from tunnel.port (from --plain-port)'],
  );
});

test('unknown keys are errors, with a suggestion for likely typos', async (t) => {
  const file = await tempFile(
    t,
    `datadir: ./x
tunnel: { prot: 1, plain_port: 2, colour: blue }
licenses:
  - name: a
    key: "${KEY_A}"
    mapings: []
    mappings:
      - { port: 9101, target: "h:1", tagret: "h:2" }
`,
  );
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: {} })), [
    'tunnel.prot: unknown setting (did you mean "port"?)',
    'tunnel.plain_port: unknown setting (did you mean "plainPort"?)',
    'tunnel.colour: unknown setting',
    'licenses[0].mappings[0].tagret: unknown setting (did you mean "target"?)',
    'licenses[0].mapings: unknown setting (did you mean "mappings"?)',
    'datadir: unknown setting (did you mean "dataDir"?)',
  ]);
});

test('a malformed group is reported even when the environment sets one of its keys', async (t) => {
  const file = await tempFile(t, 'tunnel: 5\n');
  assert.deepEqual(await problemsOf(loadServerConfig({ file, env: { MUON_TUNNEL_PORT: '9443' } })), [
    'tunnel: expected a mapping of settings (key: value)',
  ]);
});

test('YAML syntax errors give the position but not the text of the line', async (t) => {
  const secret = 'secret-secret-secret-1';
  const file = await tempFile(t, `licenses:\n  - name: a\n    key: ${secret}: oops\n`);
  const message = await configErrorOf(loadServerConfig({ file, env: {} }));
  assert.match(message, /^.*muon\.yaml: line 3, column \d+: .+$/);
  assert.ok(!message.includes(secret));
  assert.ok(!message.includes('\n'));
});

test('duplicate YAML keys are errors', async (t) => {
  const file = await tempFile(t, 'tunnel:\n  port: 1\n  port: 2\n');
  assert.match(
    await configErrorOf(loadServerConfig({ file, env: {} })),
    /line 3, column 3: Map keys must be unique/,
  );
});

test('a file that is missing, unreadable or not a mapping is a config error', async (t) => {
  const dir = await tempDir(t);
  assert.equal(
    await configErrorOf(loadServerConfig({ file: join(dir, 'nope.yaml'), env: {} })),
    `cannot read config file ${join(dir, 'nope.yaml')}: no such file`,
  );
  assert.equal(
    await configErrorOf(loadServerConfig({ file: dir, env: {} })),
    `cannot read config file ${dir}: is a directory`,
  );
  const list = await tempFile(t, '- a\n- b\n');
  assert.equal(
    await configErrorOf(loadServerConfig({ file: list, env: {} })),
    `${list}: expected a mapping of settings (key: value) at the top level`,
  );
});

test('a relative config path is taken from cwd', async (t) => {
  const file = await tempFile(t, 'tunnel: { port: 1234 }\n', 'relative.yaml');
  const config = await loadServerConfig({ file: 'relative.yaml', cwd: join(file, '..'), env: {} });
  assert.equal(config.tunnel.port, 1234);
});
