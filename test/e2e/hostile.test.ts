// Bad input on the tunnel port gets a clear error and costs nothing: the server stays up,
// forgets the connection, and keeps serving honest clients.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

async function serverStillServes(port: number): Promise<void> {
  const socket = await dial(port);
  const reply = readAll(socket);
  socket.end('still here');
  assert.equal((await reply).toString(), 'still here');
  socket.destroy();
}

describe('hostile input on the tunnel port', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['random bytes', randomBytes(4096), 'MUON_ERR_BAD_MAGIC'],
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'MUON_ERR_BAD_MAGIC'],
    ['a future protocol version', Buffer.from('MUON\x09'), 'MUON_ERR_UNSUPPORTED_VERSION'],
    [
      'an unknown frame type',
      Buffer.concat([PREAMBLE, Buffer.from([0x7f, 0, 0, 0, 0])]),
      'MUON_ERR_MALFORMED_FRAME',
    ],
    [
      'a frame declaring 4 GB',
      Buffer.concat([PREAMBLE, Buffer.from([0x02, 0xff, 0xff, 0xff, 0xff])]),
      'MUON_ERR_FRAME_TOO_LARGE',
    ],
    [
      'a truncated AUTH',
      Buffer.concat([PREAMBLE, Buffer.from([0x02, 0, 0, 0, 3, 1, 2, 3])]),
      'MUON_ERR_MALFORMED_FRAME',
    ],
    [
      'DATA before the handshake',
      Buffer.concat([PREAMBLE, Buffer.from([0x12, 0, 0, 0, 2, 1, 2])]),
      'MUON_ERR_UNEXPECTED_FRAME',
    ],
    [
      'a PING instead of AUTH',
      Buffer.concat([PREAMBLE, Buffer.from([0x05, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])]),
      'MUON_ERR_UNEXPECTED_FRAME',
    ],
  ];

  for (const [what, bytes, code] of cases) {
    test(`${what} is answered with ${code} and the connection is closed`, async (t) => {
      const echo = await echoServer();
      t.after(() => echo.close());
      const port = await freePort();
      const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
      await stack.onlineClient(KEY);

      const peer = await RawPeer.connect(stack.tunnelPort);
      t.after(() => peer.destroy());
      await peer.next('CHALLENGE');
      peer.socket.write(bytes);
      assert.equal((await peer.next('ERROR')).code, code);
      await peer.waitClosed();
      await serverStillServes(port);
      assert.equal(stack.server.sessions.length, 1);
    });
  }

  test('a silent connection is closed after the handshake timeout', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])], { server: { handshakeTimeoutMs: 200 } });
    const peer = await RawPeer.connect(stack.tunnelPort);
    t.after(() => peer.destroy());
    assert.equal((await peer.next('ERROR', 2000)).code, 'MUON_ERR_HANDSHAKE_TIMEOUT');
    await peer.waitClosed();
  });

  test('a protocol error on a live command channel ends only that session', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const [a, b] = [await freePort(), await freePort()];
    const stack = await startStack(t, [
      license('lab', KEY, [{ publicPort: a, targetPort: echo.port }]),
      license('evil', 'evil-license-key-0123456789abcdef', [{ publicPort: b, targetPort: echo.port }]),
    ]);
    await stack.onlineClient(KEY);
    const evil = await RawPeer.connect(stack.tunnelPort);
    t.after(() => evil.destroy());
    assert.equal((await evil.authenticate('evil-license-key-0123456789abcdef')).type, 'AUTH_OK');
    evil.socket.write(Buffer.from([0x12, 0, 0, 0, 1, 0])); // DATA on the command channel
    assert.equal((await evil.next('ERROR')).code, 'MUON_ERR_UNEXPECTED_FRAME');
    await evil.waitClosed();
    await waitFor(() => stack.server.sessions.length === 1, 2000, 'evil session dropped');
    await serverStillServes(a);
  });
});
