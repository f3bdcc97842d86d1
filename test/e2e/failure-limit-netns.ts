// Run by failure-limit-ipv6.test.ts inside a private network namespace whose loopback holds
// 2001:db8:1:2::a and ::b (one /64) and 2001:db8:1:3::c (another): real connections from two
// addresses of one /64 meet one failure limit. Outside such a namespace it skips.

import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { SERVER_DEFAULTS } from '../../src/server/options.ts';
import { StaticDirectory } from '../../src/server/static-directory.ts';
import { TunnelServer } from '../../src/server/tunnel-server.ts';
import { KEY, LogCapture, license } from '../support/stack.ts';
import { attemptAuth } from '../support/tunnel-attempt.ts';

// The addresses failure-limit-ipv6.test.ts puts on the namespace's loopback.
const SAME_64 = ['2001:db8:1:2::a', '2001:db8:1:2::b'] as const;
const OTHER_64 = '2001:db8:1:3::c';

const present = new Set(
  Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address),
);
const ready = [...SAME_64, OTHER_64].every((a) => present.has(a));

test('wrong keys from two addresses of one IPv6 /64 share one failure limit; another /64 keeps its own', {
  skip: ready ? false : 'needs 2001:db8:1:2::a, ::b and 2001:db8:1:3::c on this host',
}, async (t) => {
  const log = new LogCapture();
  const server = new TunnelServer({
    ...SERVER_DEFAULTS,
    maxAuthFailuresPerMinute: 3,
    publicHost: '127.0.0.1',
    directory: new StaticDirectory([license('lab', KEY, [])]),
    logger: log.logger,
    plain: { host: '::', port: 0 },
  });
  await server.listen();
  t.after(() => server.close());
  const target = { host: '2001:db8:1:2::a', port: server.addresses.plain?.port as number };
  const [first, second] = SAME_64;

  for (let i = 0; i < 3; i++) {
    const wrong = await attemptAuth(target, first, `wrong-guess-${i}-0123456789abcdef`);
    assert.deepEqual(wrong, { outcome: 'MUON_ERR_AUTH_FAILED', challenged: true }, `guess ${i}`);
  }
  // A fresh address of the same /64 is refused before any handshake, even with the right key.
  assert.deepEqual(await attemptAuth(target, second, 'wrong-guess-3-0123456789abcdef'), {
    outcome: 'MUON_ERR_RATE_LIMITED',
    challenged: false,
  });
  assert.deepEqual(await attemptAuth(target, second, KEY), {
    outcome: 'MUON_ERR_RATE_LIMITED',
    challenged: false,
  });
  // Another /64 is not affected: it gets a handshake, and the right key works.
  assert.deepEqual(await attemptAuth(target, OTHER_64, 'wrong-guess-4-0123456789abcdef'), {
    outcome: 'MUON_ERR_AUTH_FAILED',
    challenged: true,
  });
  assert.deepEqual(await attemptAuth(target, OTHER_64, KEY), { outcome: 'AUTH_OK', challenged: true });

  // Only the counting changed: the log still names the exact address that was refused.
  const refused = log.lines
    .map((line) => JSON.parse(line) as { msg?: string; code?: string; remote?: string })
    .filter((l) => l.code === 'MUON_ERR_RATE_LIMITED');
  assert.deepEqual(
    refused.map((l) => [l.msg, l.remote]),
    [
      ['tunnel connection refused', second],
      ['tunnel connection refused', second],
    ],
  );
});
