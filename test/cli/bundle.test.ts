// The bundle users run (bin/muon and `npm start` run dist/muon.js, built from src/ by
// scripts/build-server.sh): the same server and client as src/, with the files they find at run
// time (package.json, the built console) found from inside the bundle's chunks.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readNodeFlags } from '../../scripts/node-flags.ts';
import { echoServer, freePort } from '../support/net.ts';
import { BUNDLE, echoes, Fleet } from '../support/processes.ts';

const ROOT = join(import.meta.dirname, '../..');
const KEY = 'bundle-test-license-key-0123456789abcdef';
const run = promisify(execFile);

test('the bundle, brought up to date by scripts/build-server.sh, runs and reports the package version', {
  timeout: 60_000,
}, async () => {
  // A no-op when dist/muon.js is current (scripts/with-node.sh built it before the tests).
  await run('sh', [join(ROOT, 'scripts/build-server.sh')], { cwd: ROOT });
  const { stdout } = await run(process.execPath, [BUNDLE, '--version']);
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(stdout.trim(), manifest.version);
});

test('bin/muon runs the bundle with the V8 flags in bin/node-flags, which this Node accepts', {
  timeout: 60_000,
}, async () => {
  const flags = readNodeFlags(ROOT);
  assert.ok(flags.length > 0, 'bin/node-flags names its flags');
  // Node refuses to start with a V8 flag it does not know: muon would not start at all.
  const { stdout: argv } = await run(process.execPath, [...flags, '-p', 'JSON.stringify(process.execArgv)']);
  assert.deepEqual((JSON.parse(argv) as string[]).slice(0, flags.length), flags);
  // The shell's trace shows the command bin/muon hands over to (through scripts/with-node.sh).
  const { stdout, stderr } = await run('sh', ['-x', join(ROOT, 'bin/muon'), '--version'], { cwd: ROOT });
  assert.ok(stderr.includes(`node ${flags.join(' ')} ${join(ROOT, 'dist/muon.js')} --version`), stderr);
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(stdout.trim(), manifest.version);
});

test('a bundled server and client carry a visitor, and the server serves the web console', {
  timeout: 45_000,
}, async (t) => {
  const fleet = await Fleet.create((cleanup) => t.after(cleanup), BUNDLE);
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const server = await fleet.server({
    licenses: [{ name: 'lab', key: KEY, mappings: [{ port, target: `127.0.0.1:${echo.port}` }] }],
  });
  const client = await fleet.client(server, 'lab', KEY);
  await client.waitForLog('client online');
  assert.equal(await echoes(port), true);

  const page = await fetch(`${server.admin}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<script type="module"[^>]* src="\/assets\//);
});
