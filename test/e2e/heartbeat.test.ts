// Heartbeats find a dead peer in bounded time (driven by mocked interval timers).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import type { MuonError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import { keyIdOf, newNonce, serverProof } from '../../src/protocol/handshake.ts';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/messages.ts';
import { freePort, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

test('the server closes a session whose client sends no heartbeat for timeout + one interval', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const port = await freePort();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: 9 }])], {
    server: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 },
  });
  const silent = await RawPeer.connect(stack.tunnelPort);
  t.after(() => silent.destroy());
  assert.equal((await silent.authenticate(KEY)).type, 'AUTH_OK');
  assert.equal(stack.server.publicPorts.includes(port), true);

  // Detection is bounded: after the timeout, within one more interval.
  t.mock.timers.tick(3000);
  assert.equal(stack.server.sessions.length, 1, 'still alive at the timeout');
  t.mock.timers.tick(1000);
  const kick = await silent.next('KICK');
  assert.equal(kick.code, 'MUON_ERR_HEARTBEAT_TIMEOUT');
  assert.equal(stack.server.sessions.length, 0);
  assert.equal(stack.server.publicPorts.includes(port), false);
});

test('the client drops a server that stops answering heartbeats, and reconnects', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  // A fake server that authenticates every client and then never answers.
  const sockets = new Set<Socket>();
  let sessions = 0;
  const fake = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const serverNonce = newNonce();
    socket.write(Buffer.concat([PREAMBLE, encodeMessage({ type: 'CHALLENGE', serverNonce })]));
    const decoder = new FrameDecoder(
      {
        onFrame: (type, payload) => {
          const msg: Message = decodeMessage(type, payload);
          if (msg.type !== 'AUTH') return;
          assert.deepEqual(msg.keyId, keyIdOf(KEY));
          const sessionId = Buffer.alloc(16, ++sessions);
          socket.write(
            encodeMessage({
              type: 'AUTH_OK',
              sessionId,
              serverProof: serverProof(KEY, serverNonce, msg.clientNonce, sessionId),
              heartbeatIntervalMs: 1000,
              heartbeatTimeoutMs: 3000,
              mappings: [],
            }),
          );
        },
        onData: () => {},
      },
      { expectPreamble: true },
    );
    socket.on('data', (c: Buffer) => decoder.push(c));
  });
  fake.listen(0, '127.0.0.1');
  await once(fake, 'listening');
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        fake.close(() => r());
      }),
  );
  const address = fake.address();
  assert.ok(address && typeof address === 'object');

  const client = new TunnelClient({
    ...CLIENT_DEFAULTS,
    server: { host: '127.0.0.1', port: address.port },
    tls: false,
    licenseKey: KEY,
    logger: silentLogger,
    minIdleChannels: 0,
    reconnectInitialDelayMs: 10,
    reconnectMaxDelayMs: 20,
  });
  t.after(() => client.close());
  const online = once(client, 'online', { signal: AbortSignal.timeout(5000) });
  client.start();
  await online;

  const offline = once(client, 'offline', { signal: AbortSignal.timeout(5000) });
  t.mock.timers.tick(1000); // first PING, unanswered
  t.mock.timers.tick(1000);
  t.mock.timers.tick(1000);
  t.mock.timers.tick(1000);
  const [reason] = (await offline) as [MuonError];
  assert.equal(reason.code, 'MUON_ERR_HEARTBEAT_TIMEOUT');
  await waitFor(() => sessions === 2, 5000, 'the client to reconnect');
});
