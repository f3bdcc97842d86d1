// Only a client that proves it holds an enabled license gets a session; the key never
// crosses the wire and a recorded handshake cannot be replayed.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import type { MuonError } from '../../src/errors.ts';
import { clientProof, keyIdOf, newNonce } from '../../src/protocol/handshake.ts';
import { echoServer, freePort } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

describe('authentication', () => {
  test('a wrong license key is refused with MUON_ERR_AUTH_FAILED and the client gives up', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])]);
    const client = stack.client('not-the-right-key-0123456789');
    const [error] = (await once(client, 'fatal', { signal: AbortSignal.timeout(5000) })) as [MuonError];
    assert.equal(error.code, 'MUON_ERR_AUTH_FAILED');
    assert.equal(stack.server.sessions.length, 0);
  });

  test('a disabled license is refused with MUON_ERR_LICENSE_DISABLED', async (t) => {
    const stack = await startStack(t, [{ ...license('lab', KEY, []), enabled: false }]);
    const [error] = (await once(stack.client(KEY), 'fatal', { signal: AbortSignal.timeout(5000) })) as [
      MuonError,
    ];
    assert.equal(error.code, 'MUON_ERR_LICENSE_DISABLED');
  });

  test('the license key never appears on the wire or in either log', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
    const peer = await RawPeer.connect(stack.tunnelPort);
    t.after(() => peer.destroy());
    const sent: Buffer[] = [];
    const write = peer.socket.write.bind(peer.socket);
    peer.socket.write = ((chunk: Buffer, ...rest: never[]) => {
      sent.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    }) as typeof peer.socket.write;
    assert.equal((await peer.authenticate(KEY)).type, 'AUTH_OK');
    assert.equal(Buffer.concat(sent).includes(KEY), false);

    await stack.onlineClient(KEY);
    assert.equal(stack.serverLog.text().includes(KEY), false);
    assert.equal(stack.clientLog.text().includes(KEY), false);
  });

  test('a replayed AUTH frame (recorded from an earlier handshake) is refused', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])]);
    const first = await RawPeer.connect(stack.tunnelPort);
    t.after(() => first.destroy());
    const { serverNonce } = await first.next('CHALLENGE');
    const keyId = keyIdOf(KEY);
    const clientNonce = newNonce();
    const recorded = {
      type: 'AUTH',
      keyId,
      clientNonce,
      proof: clientProof(KEY, serverNonce, clientNonce, keyId),
      clientVersion: 'raw',
      minIdleChannels: 0,
      features: 0,
    } as const;

    const replay = await RawPeer.connect(stack.tunnelPort);
    t.after(() => replay.destroy());
    await replay.next('CHALLENGE');
    replay.send(recorded, true);
    const reply = await replay.next('ERROR');
    assert.equal(reply.code, 'MUON_ERR_AUTH_FAILED');
    await replay.waitClosed();
  });

  test('a proxy channel with a wrong session proof is refused', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])]);
    const peer = await RawPeer.connect(stack.tunnelPort);
    t.after(() => peer.destroy());
    const ok = await peer.authenticate(KEY);
    assert.equal(ok.type, 'AUTH_OK');
    const intruder = await RawPeer.connect(stack.tunnelPort);
    t.after(() => intruder.destroy());
    await intruder.next('CHALLENGE');
    intruder.send(
      {
        type: 'PROXY_HELLO',
        sessionId: ok.type === 'AUTH_OK' ? ok.sessionId : Buffer.alloc(16),
        proof: Buffer.alloc(32),
      },
      true,
    );
    assert.equal((await intruder.next('ERROR')).code, 'MUON_ERR_SESSION_UNKNOWN');
    await intruder.waitClosed();
  });

  test('a client that pins the wrong certificate fingerprint refuses the server', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])], { tls: true });
    const client = stack.client(KEY, { tls: { fingerprint: `${'AA:'.repeat(31)}AA` } });
    const [error] = (await once(client, 'fatal', { signal: AbortSignal.timeout(5000) })) as [MuonError];
    assert.equal(error.code, 'MUON_ERR_FINGERPRINT_MISMATCH');
    assert.equal(stack.server.sessions.length, 0);
  });

  test('an address that keeps failing is refused with MUON_ERR_RATE_LIMITED before any handshake', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])], { server: { maxAuthFailuresPerMinute: 3 } });
    for (let i = 0; i < 3; i++) {
      const guesser = await RawPeer.connect(stack.tunnelPort);
      t.after(() => guesser.destroy());
      const reply = await guesser.authenticate(`wrong-guess-${i}-0123456789abcdef`);
      assert.equal(reply.type === 'ERROR' && reply.code, 'MUON_ERR_AUTH_FAILED');
    }
    const next = await RawPeer.connect(stack.tunnelPort);
    t.after(() => next.destroy());
    assert.equal((await next.next('ERROR')).code, 'MUON_ERR_RATE_LIMITED');
    assert.equal(
      next.received.some((m) => m.type === 'CHALLENGE'),
      false,
      'no handshake is offered',
    );
    await next.waitClosed();
  });
});
