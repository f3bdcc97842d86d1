// UDP mappings and the PROXY protocol through the whole server (admin API → store → tunnel): a
// udp mapping created over HTTP listens at once, TCP and UDP are separate port namespaces (the
// same number serves both), proxyProtocol reaches the target and can be changed live, and the
// API refuses a PROXY header on a udp mapping.

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect } from 'node:net';
import { type TestContext, test } from 'node:test';
import { freePort, listenLocal, waitFor } from '../support/net.ts';
import { parseProxyHeader } from '../support/proxy-header-parser.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';
import { ask, udpEcho, udpSocket } from '../support/udp.ts';

/** A port free for both TCP and UDP on 127.0.0.1. */
async function freeBothPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const socket = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => (free ? socket.close(() => resolve()) : resolve()));
    if (free) return port;
  }
}

/** Every connection's bytes, in order of arrival. */
async function recordingTarget(t: TestContext) {
  const connections: Buffer[][] = [];
  const server = await listenLocal((socket) => {
    const chunks: Buffer[] = [];
    connections.push(chunks);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  });
  t.after(() => server.close());
  return { port: server.port, received: (n: number) => Buffer.concat(connections[n] ?? []) };
}

test('udp mappings and proxyProtocol over the admin API reach the running tunnel', async (t) => {
  const { runtime, call, login, client } = await startRuntime(t);
  const admin = await login('admin', ADMIN_PASSWORD);
  const shared = await freeBothPort();
  const other = await freeBothPort();
  const group = await runtime.store.portGroups.create({ name: 'public' });
  for (const port of [shared, other])
    await runtime.store.portPool.create({ portStart: port, groupId: group.id });
  await runtime.store.portGroups.assign(group.id, { scope: 'global' });
  const license = await call('POST', '/api/licenses', admin, { name: 'lab' });
  const c = client(license.json.key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });
  const mappings = `/api/licenses/${license.json.id}/mappings`;

  // UDP, live at once.
  const echo = await udpEcho(t);
  const udp = await call('POST', mappings, admin, {
    protocol: 'udp',
    publicPort: shared,
    targetHost: '127.0.0.1',
    targetPort: echo.port,
  });
  assert.equal(udp.status, 201);
  assert.equal(udp.json.protocol, 'udp');
  assert.equal(udp.json.proxyProtocol, null);
  await waitFor(() => runtime.tunnel.publicUdpPorts.includes(shared), 2000, 'the UDP port to open');
  const visitor = await udpSocket(t);
  assert.equal((await ask(visitor, shared, Buffer.from('over udp'))).toString(), 'over udp');

  // The free-port picker counts TCP and UDP separately.
  const freeUdp = await call('GET', `/api/licenses/${license.json.id}/free-ports?protocol=udp`, admin);
  const freeTcp = await call('GET', `/api/licenses/${license.json.id}/free-ports`, admin);
  assert.deepEqual(
    freeUdp.json.items,
    [Math.min(shared, other), Math.max(shared, other)].filter((p) => p !== shared),
  );
  assert.ok(freeTcp.json.items.includes(shared), 'the UDP mapping does not take the TCP port');

  const refused = await call('POST', mappings, admin, {
    protocol: 'udp',
    publicPort: other,
    targetHost: '127.0.0.1',
    targetPort: 53,
    proxyProtocol: 'v1',
  });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.field, 'proxyProtocol');

  // TCP on the same port number, with a v2 header: the target learns the visitor's address.
  const target = await recordingTarget(t);
  const tcp = await call('POST', mappings, admin, {
    publicPort: shared,
    targetHost: '127.0.0.1',
    targetPort: target.port,
    proxyProtocol: 'v2',
  });
  assert.equal(tcp.status, 201);
  assert.equal(tcp.json.proxyProtocol, 'v2');
  await waitFor(() => runtime.tunnel.publicPorts.includes(shared), 2000, 'the TCP port to open');
  const send = async (text: string) => {
    const socket = connect({ host: '127.0.0.1', port: shared, localAddress: '127.0.0.3' });
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    socket.end(text);
    return socket.localPort;
  };
  const visitorPort = await send('hello');
  await waitFor(() => target.received(0).toString('latin1').endsWith('hello'), 3000, 'the first connection');
  const header = parseProxyHeader(target.received(0));
  assert.deepEqual(header?.source, { address: '127.0.0.3', port: visitorPort });
  assert.deepEqual(header?.destination, { address: '127.0.0.1', port: shared });
  assert.equal(target.received(0).subarray(header?.length).toString(), 'hello');
  assert.equal((await ask(visitor, shared, Buffer.from('udp still'))).toString(), 'udp still');

  // Turned off over the API: the next visitor's bytes come first again.
  const patched = await call('PATCH', `/api/mappings/${tcp.json.id}`, admin, { proxyProtocol: null });
  assert.equal(patched.json.proxyProtocol, null);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await send('plain');
  await waitFor(() => target.received(1).length >= 5, 3000, 'the second connection');
  assert.equal(target.received(1).toString(), 'plain');
});

test('a udp mapping and a PROXY header declared in the YAML work through the store', async (t) => {
  const echo = await udpEcho(t);
  const target = await recordingTarget(t);
  const port = await freeBothPort();
  const key = 'yaml-declared-key-0123456789';
  const { runtime, client } = await startRuntime(t, [
    'limits: { udpIdleTimeout: 5s }',
    'licenses:',
    '  - name: lab',
    `    key: "${key}"`,
    '    mappings:',
    `      - { protocol: udp, port: ${port}, target: "127.0.0.1:${echo.port}" }`,
    `      - { port: ${port}, target: "127.0.0.1:${target.port}", proxyProtocol: v1 }`,
  ]);
  const c = client(key);
  await once(c, 'online', { signal: AbortSignal.timeout(5000) });
  await waitFor(() => runtime.tunnel.publicUdpPorts.includes(port), 2000, 'the UDP port to open');
  const visitor = await udpSocket(t);
  assert.equal((await ask(visitor, port, Buffer.from('declared'))).toString(), 'declared');

  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.end('x');
  await waitFor(() => target.received(0).toString('latin1').endsWith('x'), 3000, 'the TCP connection');
  assert.equal(
    target.received(0).toString('latin1'),
    `PROXY TCP4 127.0.0.1 127.0.0.1 ${socket.localPort} ${port}\r\nx`,
  );
});
