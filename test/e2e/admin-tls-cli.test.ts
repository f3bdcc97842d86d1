// `muon server` with the admin API over HTTPS, as a process: what it prints for the operator (an
// https:// URL and the fingerprint of the certificate the browser will be shown), and a bad
// certificate file stopping it with exit code 2 before it is ready.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect } from 'node:tls';
import { makeCertificate } from '../support/certs.ts';
import { freePort, waitFor } from '../support/net.ts';
import { MuonProcess } from '../support/processes.ts';

async function serverFiles(t: TestContext, admin: string) {
  const dir = await mkdtemp(join(tmpdir(), 'muon-admin-tls-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [tunnelPort, adminPort] = await Promise.all([freePort(), freePort()]);
  const config = join(dir, 'muon.yaml');
  await writeFile(
    config,
    [
      `dataDir: ${join(dir, 'data')}`,
      `tunnel: { host: 127.0.0.1, port: ${tunnelPort} }`,
      'publicHost: 127.0.0.1',
      `admin: { host: 127.0.0.1, port: ${adminPort}${admin} }`,
    ].join('\n'),
  );
  return { dir, config, adminPort };
}

/** The SHA-256 fingerprint of the certificate presented on `port`, without trusting it. */
async function presentedFingerprint(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  try {
    await once(socket, 'secureConnect', { signal: AbortSignal.timeout(10_000) });
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

test('--admin-tls: the server prints an https:// console URL and the fingerprint the browser will show', async (t) => {
  const { config, adminPort } = await serverFiles(t, '');
  const server = new MuonProcess('server', ['server', '--config', config, '--admin-tls']);
  t.after(() => server.kill());

  const ready = await server.waitForLog('muon server ready', { ms: 30_000 });
  const fingerprint = String(ready.fingerprint);
  const url = `https://127.0.0.1:${adminPort}/`;
  assert.deepEqual(ready.admin, { host: '127.0.0.1', port: adminPort, url, fingerprint });
  // stderr is a pipe of its own: what the server printed there may arrive after the log line.
  const printed = `admin API certificate fingerprint (SHA-256): ${fingerprint}\n`;
  await waitFor(() => server.stderr.includes(printed), 5000, 'the fingerprint on stderr');
  assert.ok(server.stderr.includes(`web console and admin API on ${url} `), server.stderr);
  assert.equal(await presentedFingerprint(adminPort), fingerprint);
  assert.equal((await server.stop()).code, 0);
});

test('an admin key that does not match its certificate exits 2 naming admin.tls.key, never ready', async (t) => {
  const pair = await makeCertificate(['localhost']);
  const other = await makeCertificate(['localhost']);
  const { dir, config } = await serverFiles(t, ', tls: { cert: admin.crt, key: admin.key }');
  await writeFile(join(dir, 'admin.crt'), pair.cert);
  await writeFile(join(dir, 'admin.key'), other.key);
  const server = new MuonProcess('server', ['server', '--config', config]);
  t.after(() => server.kill());

  const { code } = await server.exited;
  assert.equal(code, 2);
  assert.match(
    server.stderr,
    /^muon: admin\.tls\.key: \S*admin\.key: does not belong to the certificate \(the first one in the PEM\)\n$/,
  );
  assert.equal(server.logsOf('muon server ready').length, 0);
  assert.ok(!server.output.includes(other.key.split('\n')[1] ?? other.key), 'the key is never shown');
});
