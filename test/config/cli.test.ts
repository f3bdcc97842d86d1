// The `muon` command line, run as a child process. Nothing here opens a network listener.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KEY_A, tempDir, tempFile } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node src/cli/main.ts …args` without any MUON_* variable from the test's environment. */
function muon(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MUON_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, 'no stack trace');
}

test('--help lists the commands', async () => {
  const { code, stdout } = await muon(['--help']);
  assert.equal(code, 0);
  assert.match(stdout, /Usage: muon/);
  for (const command of ['server', 'client', 'keygen'])
    assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
});

test('server --help and client --help list every flag', async () => {
  const server = await muon(['server', '--help']);
  assert.equal(server.code, 0);
  for (const flag of [
    '--config',
    '--data-dir',
    '--host',
    '--tunnel-port',
    '--plain-port',
    '--public-host',
    '--log-level',
  ]) {
    assert.ok(server.stdout.includes(flag), flag);
  }
  const client = await muon(['client', '--help']);
  assert.equal(client.code, 0);
  for (const flag of [
    '--config',
    '--server',
    '--license',
    '--fingerprint',
    '--ca',
    '--plain',
    '--min-idle',
    '--log-level',
  ]) {
    assert.ok(client.stdout.includes(flag), flag);
  }
  const keygen = await muon(['keygen', '--help']);
  assert.equal(keygen.code, 0);
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const { code, stdout } = await muon(['--version']);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), version);
});

test('keygen prints a fresh 32-byte base64url key', async () => {
  const [first, second] = await Promise.all([muon(['keygen']), muon(['keygen'])]);
  for (const run of [first, second]) {
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    assert.equal(Buffer.from(run.stdout.trim(), 'base64url').length, 32);
    assert.equal(run.stderr, '');
  }
  assert.notEqual(first.stdout, second.stdout);
});

test('a bad server config exits 2 with the problems on stderr and no stack', async (t) => {
  const file = await tempFile(t, 'tunnel: { port: 70000 }\nlog: { levle: info }\n');
  const { code, stdout, stderr } = await muon(['server', '--config', file]);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.equal(
    stderr,
    'muon: tunnel.port: must be 1–65535\nmuon: log.levle: unknown setting (did you mean "level"?)\n',
  );
  assertNoStack(stderr);
});

test('a bad value from a flag or the environment is reported with its source', async () => {
  const flag = await muon(['server', '--tunnel-port', 'http']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, 'muon: tunnel.port: must be 1–65535 (from --tunnel-port)\n');

  const env = await muon(['server'], { MUON_LOG_LEVEL: 'chatty' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /^muon: log\.level: must be one of .* \(from MUON_LOG_LEVEL\)\n$/);
});

test('a missing config file exits 2', async (t) => {
  const dir = await tempDir(t);
  const { code, stderr } = await muon(['server', '--config', join(dir, 'absent.yaml')]);
  assert.equal(code, 2);
  assert.equal(stderr, `muon: cannot read config file ${join(dir, 'absent.yaml')}: no such file\n`);
});

test('a data directory that cannot be created exits 2', async (t) => {
  const blocker = await tempFile(t, 'a file, not a directory\n', 'blocker');
  const { code, stderr } = await muon(['server', '--data-dir', join(blocker, 'data')]);
  assert.equal(code, 2);
  assert.equal(
    stderr,
    `muon: dataDir: cannot create ${join(blocker, 'data')}: a parent is not a directory\n`,
  );
});

test('unreadable TLS files from the config exit 2 without a stack', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'server.yaml');
  await writeFile(file, 'dataDir: data\ntunnel: { tls: { cert: missing.crt, key: missing.key } }\n');
  const { code, stderr } = await muon(['server', '--config', file]);
  assert.equal(code, 2);
  assert.match(stderr, /^muon: .*missing\.crt/);
  assertNoStack(stderr);
});

test('usage errors exit 2', async () => {
  const unknown = await muon(['server', '--bogus']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, "muon: unknown option '--bogus'\n");

  const extra = await muon(['keygen', 'extra']);
  assert.equal(extra.code, 2);

  const nothing = await muon([]);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /Usage: muon/);
});

test('a client without a way to verify the server exits 2, never showing the license', async () => {
  const { code, stdout, stderr } = await muon(['client', '--server', 'example.com:9443', '--license', KEY_A]);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /^muon: tls: the client must be able to verify the server/);
  assert.ok(!stderr.includes(KEY_A));
  assertNoStack(stderr);
});

test('client config errors never show the license from the environment', async () => {
  const { code, stderr } = await muon(['client', '--server', 'no-port', '--plain'], { MUON_LICENSE: KEY_A });
  assert.equal(code, 2);
  assert.equal(stderr, 'muon: server: expected host:port (from --server)\n');
});
