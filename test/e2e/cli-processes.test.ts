// The real commands, as operators run them: `muon server --config` and `muon client` as
// separate processes carry traffic, never print the license key, and exit 0 on SIGTERM.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const KEY = 'cli-test-license-key-0123456789abcdef';

interface Proc {
  child: ChildProcess;
  output: () => string;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c;
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c;
  });
  return { child, output: () => out };
}

async function stop(proc: Proc): Promise<number | null> {
  if (proc.child.exitCode !== null) return proc.child.exitCode;
  const exited = once(proc.child, 'exit');
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

test('muon server and muon client processes tunnel TCP, serve the admin API, and shut down cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'muon-cli-'));
  const echo = await echoServer();
  const [tunnelPort, publicPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'muon.yaml');
  await writeFile(
    config,
    [
      `dataDir: ${join(dir, 'data')}`,
      `tunnel: { host: 127.0.0.1, port: ${tunnelPort} }`,
      'publicHost: 127.0.0.1',
      `admin: { host: 127.0.0.1, port: ${adminPort} }`,
      'licenses:',
      '  - name: lab',
      `    key: "${KEY}"`,
      `    mappings: [{ protocol: tcp, port: ${publicPort}, target: "127.0.0.1:${echo.port}" }]`,
    ].join('\n'),
  );
  const server = start(['server', '--config', config]);
  let client: Proc | undefined;
  t.after(async () => {
    if (client) await stop(client);
    await stop(server);
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  await waitFor(() => server.output().includes('muon server ready'), 15_000, 'server ready');
  const fingerprint = /"fingerprint":"([0-9A-F:]+)"/.exec(server.output())?.[1];
  assert.ok(fingerprint, 'the server logs its certificate fingerprint');

  client = start([
    'client',
    '--server',
    `127.0.0.1:${tunnelPort}`,
    '--license',
    KEY,
    '--fingerprint',
    fingerprint,
  ]);
  await waitFor(() => client?.output().includes('client online') ?? false, 15_000, 'client online');

  const visitor = await dial(publicPort);
  const reply = readAll(visitor);
  visitor.end('through two processes');
  assert.equal((await reply).toString(), 'through two processes');
  visitor.destroy();

  // The first start created an admin and showed its password once, on the terminal only.
  const password = /created admin user "admin" with password (\S+)/.exec(server.output())?.[1];
  assert.ok(password, 'the first admin password is shown');
  assert.equal(server.output().split(password).length - 1, 1, 'and shown only once');
  const login = await fetch(`http://127.0.0.1:${adminPort}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  assert.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const metrics = await (
    await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  assert.match(metrics, /^muon_clients_online 1$/m);

  assert.equal(await stop(client), 0);
  assert.equal(await stop(server), 0);
  assert.equal(server.output().includes(KEY), false, 'the server never prints the key');
  assert.equal(client.output().includes(KEY), false, 'the client never prints the key');
});
