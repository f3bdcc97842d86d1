// The proxy-channel pool on both ends (a client with `mux: false`: one channel per visitor): idle
// channels above the client's minimum are reaped, and a visitor whose client never answers
// CONNECT is closed, not left hanging.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { proxyProof, sessionKey } from '../../src/protocol/handshake.ts';
import { closedWithin, dial, echoServer, freePort, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

test('idle channels above the client minimum are closed after the idle timeout', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])], {
    server: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 60_000, idleChannelTimeoutMs: 2000 },
  });
  const client = await stack.onlineClient(KEY, { minIdleChannels: 1, mux: false });

  // Six visitors at once need six channels; when they leave, all six are idle.
  const visitors = await Promise.all(Array.from({ length: 6 }, () => dial(port)));
  for (const v of visitors) v.write('x');
  await waitFor(() => (stack.server.sessions[0]?.stats.busy ?? 0) === 6, 3000, 'six busy channels');
  for (const v of visitors) v.destroy();
  await waitFor(() => (stack.server.sessions[0]?.stats.idle ?? 0) >= 6, 3000, 'channels back in the pool');

  t.mock.timers.tick(1000);
  assert.ok((stack.server.sessions[0]?.stats.idle ?? 0) >= 6, 'not reaped before the timeout');
  t.mock.timers.tick(2000);
  assert.equal(stack.server.sessions[0]?.stats.idle, 1, 'reaped down to the client minimum');
  await waitFor(() => client.session?.pool.stats.total === 1, 3000, 'the client to see the closes');
});

test('a visitor is closed when the client never answers CONNECT', async (t) => {
  const port = await freePort();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: 9 }])], {
    server: { connectTimeoutMs: 300 },
  });
  const command = await RawPeer.connect(stack.tunnelPort);
  t.after(() => command.destroy());
  const { reply, serverNonce, clientNonce } = await command.handshake(KEY);
  assert.equal(reply.type, 'AUTH_OK');
  if (reply.type !== 'AUTH_OK') return;
  const key = sessionKey(KEY, serverNonce, clientNonce, reply.sessionId);

  // A proxy channel that proves itself, then plays dead.
  const mute = await RawPeer.connect(stack.tunnelPort);
  t.after(() => mute.destroy());
  const { serverNonce: channelNonce } = await mute.next('CHALLENGE');
  mute.send(
    {
      type: 'PROXY_HELLO',
      sessionId: reply.sessionId,
      proof: proxyProof(key, channelNonce, reply.sessionId),
    },
    true,
  );
  await waitFor(() => stack.server.sessions[0]?.stats.idle === 1, 2000, 'the channel to be pooled');

  const visitor = await dial(port);
  visitor.on('error', () => {});
  const connect = await mute.next('CONNECT');
  assert.equal(connect.publicPort, port);
  assert.equal(await closedWithin(visitor, 2000), true);
  assert.ok(stack.serverLog.codes().includes('MUON_ERR_CONNECT_TIMEOUT'));
  await mute.waitClosed();
});

test('a session cannot hold more proxy channels than maxChannelsPerSession', async (t) => {
  const stack = await startStack(t, [license('lab', KEY, [])], { server: { maxChannelsPerSession: 3 } });
  await stack.onlineClient(KEY, { minIdleChannels: 6, mux: false });
  await waitFor(
    () => stack.serverLog.codes().filter((c) => c === 'MUON_ERR_POOL_EXHAUSTED').length >= 3,
    3000,
    'refusals',
  );
  assert.equal(stack.server.sessions[0]?.stats.idle, 3);
  await waitFor(
    () => stack.clientLog.codes().includes('MUON_ERR_POOL_EXHAUSTED'),
    3000,
    'the client to hear why',
  );
});

test('channels refused on their way are asked for again: a burst beyond the handshake limit is served', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  // At most 2 connections mid-handshake: most of a burst's new channels are refused at first.
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])], {
    server: { maxPendingHandshakes: 2, connectTimeoutMs: 6000 },
  });
  await stack.onlineClient(KEY, { minIdleChannels: 0, mux: false });
  // Every visitor holds its channel until all have their answer: none can be served by another's
  // channel coming back to the pool.
  const visitors = await Promise.all(Array.from({ length: 30 }, () => dial(port)));
  const burst = await Promise.all(
    visitors.map(async (visitor, i) => {
      visitor.on('error', () => {});
      visitor.write(`visitor ${i}`);
      const [first] = (await once(visitor, 'data', { signal: AbortSignal.timeout(8000) }).catch(() => [
        undefined,
      ])) as [Buffer | undefined];
      return first?.toString() === `visitor ${i}`;
    }),
  );
  for (const visitor of visitors) visitor.destroy();
  assert.equal(burst.filter(Boolean).length, 30, 'every visitor of the burst is served');
  assert.ok(stack.serverLog.text().includes('MUON_ERR_RATE_LIMITED'), 'channels were refused on the way');
});
