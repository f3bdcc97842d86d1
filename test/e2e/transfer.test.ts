// Bytes through the tunnel arrive exactly, in both directions, over many connections at once,
// with half-close forwarded and server-speaks-first services working.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { closedWithin, dial, echoServer, freePort, listenLocal, readAll, roundTrip } from '../support/net.ts';
import { KEY, license, startStack } from '../support/stack.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const tls of [false, true]) {
  describe(`transfer over a ${tls ? 'TLS' : 'plain'} tunnel`, () => {
    test('echoes 8 MB byte-exact on each of 8 concurrent connections, both directions at once', async (t) => {
      const echo = await echoServer();
      t.after(() => echo.close());
      const port = await freePort();
      const stack = await startStack(
        t,
        [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])],
        { tls },
      );
      await stack.onlineClient(KEY);

      const payloads = Array.from({ length: 8 }, () => randomBytes(8 * 1024 * 1024));
      const results = await Promise.all(payloads.map((p) => roundTrip(port, p)));
      for (const [i, result] of results.entries()) {
        assert.equal(result.length, payloads[i]?.length);
        assert.equal(sha(result), sha(payloads[i] as Buffer));
      }
    });

    test('forwards half-close: a request ended with FIN gets its full reply', async (t) => {
      const target = await listenLocal((socket) => {
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => socket.end(`got ${Buffer.concat(chunks).length} bytes`));
      });
      t.after(() => target.close());
      const port = await freePort();
      const stack = await startStack(
        t,
        [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])],
        { tls },
      );
      await stack.onlineClient(KEY);

      assert.equal((await roundTrip(port, Buffer.from('x'))).toString(), 'got 1 bytes');
      assert.equal((await roundTrip(port, Buffer.alloc(0))).toString(), 'got 0 bytes');
    });
  });
}

describe('tunnel sessions', () => {
  test('a server-speaks-first service greets the visitor before the visitor sends anything', async (t) => {
    const target = await listenLocal((socket) => socket.end('SSH-2.0-Muon_Test\r\n'));
    t.after(() => target.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])]);
    await stack.onlineClient(KEY);

    const socket = await dial(port);
    assert.equal((await readAll(socket)).toString(), 'SSH-2.0-Muon_Test\r\n');
    socket.destroy();
  });

  test('an unreachable target closes the visitor promptly and logs why', async (t) => {
    const port = await freePort();
    const deadPort = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: deadPort }])]);
    await stack.onlineClient(KEY);

    const socket = await dial(port);
    socket.on('error', () => {});
    assert.equal(await closedWithin(socket, 2000), true);
    assert.ok(stack.serverLog.codes().includes('MUON_ERR_TARGET_UNREACHABLE'));
    assert.ok(stack.clientLog.codes().includes('MUON_ERR_TARGET_UNREACHABLE'));
  });

  test('reuses pooled proxy channels: 100 sequential visitors need no new channels', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
    const client = await stack.onlineClient(KEY, { minIdleChannels: 2, mux: false });

    for (let i = 0; i < 100; i++) {
      assert.equal((await roundTrip(port, Buffer.from(`ping ${i}`))).toString(), `ping ${i}`);
    }
    const stats = client.session?.pool.stats;
    assert.ok(stats && stats.total <= 3, `pool grew to ${stats?.total}`);
  });

  test('with no warm channels, visitors wait while the client opens channels on demand', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
    const client = await stack.onlineClient(KEY, { minIdleChannels: 0, mux: false });
    assert.equal(client.session?.pool.stats.total, 0);

    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => roundTrip(port, Buffer.from(`visitor ${i}`))),
    );
    assert.deepEqual(
      replies.map((r) => r.toString()),
      Array.from({ length: 20 }, (_, i) => `visitor ${i}`),
    );
  });
});
