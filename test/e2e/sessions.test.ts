// Session lifecycles: reconnect after a server restart, takeover by a reconnecting client,
// live changes from the directory, and shutdown that leaves nothing behind.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import type { MuonError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { SERVER_DEFAULTS } from '../../src/server/options.ts';
import { StaticDirectory } from '../../src/server/static-directory.ts';
import { TunnelServer } from '../../src/server/tunnel-server.ts';
import { closedWithin, dial, echoServer, freePort, listenLocal, readAll, waitFor } from '../support/net.ts';
import { KEY, license, startStack } from '../support/stack.ts';

async function echoes(port: number, text = 'hello'): Promise<boolean> {
  try {
    const socket = await dial(port);
    const reply = readAll(socket);
    socket.end(text);
    const ok = (await reply).toString() === text;
    socket.destroy();
    return ok;
  } catch {
    return false;
  }
}

describe('session lifecycle', () => {
  test('a client reconnects by itself after the server restarts on the same port', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const publicPort = await freePort();
    const tunnelPort = await freePort();
    const directory = new StaticDirectory([license('lab', KEY, [{ publicPort, targetPort: echo.port }])]);
    const makeServer = () =>
      new TunnelServer({
        ...SERVER_DEFAULTS,
        publicHost: '127.0.0.1',
        directory,
        logger: silentLogger,
        plain: { host: '127.0.0.1', port: tunnelPort },
      });
    let server = makeServer();
    await server.listen();
    t.after(() => server.close());
    const client = new TunnelClient({
      ...CLIENT_DEFAULTS,
      server: { host: '127.0.0.1', port: tunnelPort },
      tls: false,
      licenseKey: KEY,
      logger: silentLogger,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 200,
    });
    t.after(() => client.close());
    const online = once(client, 'online', { signal: AbortSignal.timeout(5000) });
    client.start();
    await online;
    assert.equal(await echoes(publicPort), true);

    const offline = once(client, 'offline', { signal: AbortSignal.timeout(5000) });
    await server.close();
    const [reason] = (await offline) as [MuonError];
    assert.equal(reason.code, 'MUON_ERR_SHUTDOWN');
    assert.equal(await echoes(publicPort), false, 'the public port closes with the server');

    server = makeServer();
    const back = once(client, 'online', { signal: AbortSignal.timeout(5000) });
    await server.listen();
    await back;
    assert.equal(await echoes(publicPort), true);
  });

  test('a second client with the same license takes over at once, with no port-in-use gap', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])]);
    const first = await stack.onlineClient(KEY);
    const held = await dial(port); // a visitor of the first session
    held.on('error', () => {});
    const replaced = once(first, 'offline', { signal: AbortSignal.timeout(5000) });

    await stack.onlineClient(KEY);
    const [reason] = (await replaced) as [MuonError];
    assert.equal(reason.code, 'MUON_ERR_SESSION_REPLACED');
    assert.equal(await closedWithin(held, 2000), true, "the old session's visitors are closed");
    assert.equal(await echoes(port), true);
    assert.equal(stack.server.sessions.length, 1);
    assert.equal(stack.serverLog.codes().includes('MUON_ERR_PORT_IN_USE'), false);
  });

  test('disabling a license kicks its client, closes its visitors and unbinds its ports', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const lab = license('lab', KEY, [{ publicPort: port, targetPort: echo.port }]);
    const stack = await startStack(t, [lab]);
    const client = await stack.onlineClient(KEY);
    const visitor = await dial(port);
    visitor.on('error', () => {});
    visitor.write('x');
    await waitFor(() => stack.server.sessions[0]?.stats.busy === 1, 2000, 'the visitor to be bound');

    const fatal = once(client, 'fatal', { signal: AbortSignal.timeout(5000) });
    stack.directory.update({ ...lab, enabled: false });
    const [error] = (await fatal) as [MuonError];
    assert.equal(error.code, 'MUON_ERR_LICENSE_DISABLED');
    assert.equal(await closedWithin(visitor, 2000), true);
    await waitFor(() => !stack.server.publicPorts.includes(port), 2000, 'port unbound');
    assert.equal(await echoes(port), false);
  });

  test('adding, retargeting and removing a mapping applies to the live session', async (t) => {
    const one = await listenLocal((socket) => socket.end('one'));
    const two = await listenLocal((socket) => socket.end('two'));
    const held = await listenLocal(() => {});
    t.after(() => Promise.all([one.close(), two.close(), held.close()]));
    const [a, b] = [await freePort(), await freePort()];
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: a, targetPort: held.port }])]);
    await stack.onlineClient(KEY);
    const greeting = async (port: number) => {
      const socket = await dial(port);
      const text = (await readAll(socket)).toString();
      socket.destroy();
      return text;
    };
    const onOldTarget = await dial(a);
    onOldTarget.on('error', () => {});
    await waitFor(() => held.sockets.size === 1, 2000, 'the visitor to reach the first target');

    // Add b, and retarget a: its listener stays, its visitor on the old target is closed.
    stack.directory.update(
      license('lab', KEY, [
        { publicPort: a, targetPort: one.port },
        { publicPort: b, targetPort: two.port },
      ]),
    );
    await waitFor(() => stack.server.publicPorts.includes(b), 1000, 'new port bound');
    assert.equal(await closedWithin(onOldTarget, 2000), true);
    assert.equal(await greeting(a), 'one');
    assert.equal(await greeting(b), 'two');

    stack.directory.update(license('lab', KEY, [{ publicPort: a, targetPort: one.port }]));
    await waitFor(() => !stack.server.publicPorts.includes(b), 1000, 'removed port unbound');
    assert.equal(await echoes(b), false);
    assert.equal(await greeting(a), 'one', 'the other mapping is untouched');
  });

  test('resetting the key disconnects the client, and the old key no longer works', async (t) => {
    const stack = await startStack(t, [license('lab', KEY, [])]);
    const client = await stack.onlineClient(KEY);
    const fatal = once(client, 'fatal', { signal: AbortSignal.timeout(5000) });
    stack.directory.update(license('lab', 'a-brand-new-key-0123456789abcdef', []));
    assert.equal(((await fatal) as [MuonError])[0].code, 'MUON_ERR_AUTH_FAILED');
    const [again] = (await once(stack.client(KEY), 'fatal', { signal: AbortSignal.timeout(5000) })) as [
      MuonError,
    ];
    assert.equal(again.code, 'MUON_ERR_AUTH_FAILED');
  });

  test('close() is idempotent and leaves no socket or timer behind', async (t) => {
    const before = new Set(process.getActiveResourcesInfo());
    const countOf = (list: string[], kind: string) => list.filter((r) => r === kind).length;
    const baseline = process.getActiveResourcesInfo();
    const echo = await echoServer();
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])], {
      tls: true,
    });
    const client = await stack.onlineClient(KEY);
    assert.equal(await echoes(port), true);
    await Promise.all([client.close(), client.close()]);
    await stack.close();
    await stack.close();
    await echo.close();
    await waitFor(
      () => {
        const now = process.getActiveResourcesInfo();
        return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].every(
          (k) => countOf(now, k) <= countOf(baseline, k),
        );
      },
      3000,
      `resources to return to baseline (${[...before].join(',')})`,
    );
  });
});
