// The tunnel's failure limit over real connections: IPv4 addresses keep their own count, also
// behind a dual-stack listener that reports them as ::ffff:a.b.c.d (which lie in ::/64, with
// ::1); addresses of one IPv6 /64 share one. Loopback here has one IPv6 address (::1), so the
// /64 case runs in a private network namespace (unshare) whose loopback gets two addresses of one
// /64 and one of another; the host's network is not touched. Skipped where namespaces are not
// allowed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { SERVER_DEFAULTS } from '../../src/server/options.ts';
import { StaticDirectory } from '../../src/server/static-directory.ts';
import { TunnelServer } from '../../src/server/tunnel-server.ts';
import { KEY, LogCapture, license } from '../support/stack.ts';
import { attemptAuth } from '../support/tunnel-attempt.ts';

const INNER = join(import.meta.dirname, 'failure-limit-netns.ts');
/** What failure-limit-netns.ts expects on the namespace's loopback. */
const NAMESPACE_ADDRESSES = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:3::c'];

const WRONG = 'wrong-guess-0123456789abcdef';

test('behind a dual-stack listener, IPv4 addresses keep their own failure counts, apart from ::1', async (t) => {
  const server = new TunnelServer({
    ...SERVER_DEFAULTS,
    maxAuthFailuresPerMinute: 3,
    publicHost: '127.0.0.1',
    directory: new StaticDirectory([license('lab', KEY, [])]),
    logger: new LogCapture().logger,
    plain: { host: '::', port: 0 },
  });
  await server.listen();
  t.after(() => server.close());
  const port = server.addresses.plain?.port as number;
  const v4 = { host: '127.0.0.1', port };
  const v6 = { host: '::1', port };

  for (let i = 0; i < 3; i++)
    assert.equal((await attemptAuth(v4, '127.0.0.1', WRONG)).outcome, 'MUON_ERR_AUTH_FAILED');
  assert.deepEqual(await attemptAuth(v4, '127.0.0.1', KEY), {
    outcome: 'MUON_ERR_RATE_LIMITED',
    challenged: false,
  });
  assert.deepEqual(await attemptAuth(v4, '127.0.0.2', KEY), { outcome: 'AUTH_OK', challenged: true });
  assert.deepEqual(await attemptAuth(v6, '::1', KEY), { outcome: 'AUTH_OK', challenged: true });

  for (let i = 0; i < 3; i++)
    assert.equal((await attemptAuth(v6, '::1', WRONG)).outcome, 'MUON_ERR_AUTH_FAILED');
  assert.equal((await attemptAuth(v6, '::1', KEY)).outcome, 'MUON_ERR_RATE_LIMITED');
  assert.equal((await attemptAuth(v4, '127.0.0.3', KEY)).outcome, 'AUTH_OK');
});

test('in a network namespace, two addresses of one IPv6 /64 share one failure limit', async (t) => {
  const addresses = [
    'ip link set lo up',
    ...NAMESPACE_ADDRESSES.map((a) => `ip -6 addr add ${a}/64 dev lo nodad`),
  ];
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', addresses.join(' && ')], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip(
      `no network namespace with IPv6 here (unshare -rn, ip): ${probe.error?.message ?? probe.stderr.trim()}`,
    );
    return;
  }
  const setup = [...addresses, 'exec "$0" --test --test-reporter=tap "$1"'].join(' && ');
  // NODE_TEST_CONTEXT would make the inner runner report to this one in its own format.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn('unshare', ['-rn', 'sh', '-c', setup, process.execPath, INNER], { env });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c;
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, output);
  assert.match(output, /^# pass 1$/m, output);
  assert.match(output, /^# skip(ped)? 0$/m, output);
});
