// UDP mappings end to end on loopback: a session per visitor address (ip:port) carried by a proxy
// channel, datagram boundaries kept (one datagram per DATA frame), replies to their own visitor
// only, idle sessions expiring on both sides, and the TCP visitor rules applied to UDP visitors:
// security groups, connection limits (a session counts as a connection), speed limits (datagrams
// beyond them are dropped). Removing the mapping or losing the client ends its sessions.

import assert from 'node:assert/strict';
import type { Socket as UdpSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import type { LicenseRecord, MappingRecord, SecurityPolicy } from '../../src/server/directory.ts';
import { freePort, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, type LogCapture, license, type Stack, startStack } from '../support/stack.ts';
import {
  ask,
  datagramsWithin,
  dnsLikeResponder,
  freeUdpPort,
  nextDatagrams,
  type UdpService,
  udpEcho,
  udpSocket,
} from '../support/udp.ts';

type TestContext = Parameters<typeof startStack>[0];

/** A license with one UDP mapping to `target`, its stack and an online client. */
async function udpLab(
  t: TestContext,
  target: UdpService,
  mapping: Partial<MappingRecord> = {},
  server: Parameters<typeof startStack>[2] = {},
): Promise<{ stack: Stack; port: number; record: LicenseRecord }> {
  const port = await freeUdpPort();
  const record = license('lab', KEY, [
    { protocol: 'udp', publicPort: port, targetPort: target.port, id: 'lab:udp', ...mapping },
  ]);
  const stack = await startStack(t, [record], server);
  await stack.onlineClient(KEY);
  await waitFor(() => stack.server.publicUdpPorts.includes(port), 2000, 'the UDP port to open');
  return { stack, port, record };
}

const udpSessions = (stack: Stack) => stack.server.sessions[0]?.stats.udpSessions ?? 0;

function logged(log: LogCapture, code: string): Array<Record<string, unknown>> {
  return log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === code);
}

function tagged(tag: string, i: number): Buffer {
  return Buffer.from(`${tag}#${i}`);
}

describe('UDP mappings', () => {
  test('an echo keeps datagram boundaries: 1, 1000 and 60,000 bytes (and an empty one) come back as sent', async (t) => {
    const echo = await udpEcho(t);
    const { port } = await udpLab(t, echo);
    const visitor = await udpSocket(t);
    const sent = [Buffer.alloc(1, 7), Buffer.alloc(1000, 8), Buffer.alloc(60_000, 9), Buffer.alloc(0)];
    sent[2]?.write('the middle of the big one', 30_000);
    const replies = nextDatagrams(visitor, sent.length);
    for (const datagram of sent) visitor.send(datagram, port, '127.0.0.1');
    const got = await replies;
    assert.deepEqual(
      got.map((d) => d.length),
      [1, 1000, 60_000, 0],
    );
    assert.deepEqual(got, sent);
    assert.deepEqual(
      echo.received.map((r) => r.datagram.length),
      [1, 1000, 60_000, 0],
      'the target received the same datagrams, none merged or split',
    );
  });

  test('50 concurrent visitors, each with its own queries, each get only their own replies', async (t) => {
    const echo = await udpEcho(t);
    const { stack, port } = await udpLab(t, echo);
    const visitors: UdpSocket[] = await Promise.all(Array.from({ length: 50 }, () => udpSocket(t)));
    const QUERIES = 4;
    const replies = visitors.map((v) => nextDatagrams(v, QUERIES, 5000));
    visitors.forEach((v, n) => {
      for (let i = 0; i < QUERIES; i++) v.send(tagged(`visitor-${n}`, i), port, '127.0.0.1');
    });
    const all = await Promise.all(replies);
    all.forEach((got, n) => {
      assert.deepEqual(
        got.map((d) => d.toString()).sort(),
        Array.from({ length: QUERIES }, (_, i) => `visitor-${n}#${i}`),
        `visitor ${n} got exactly its own replies`,
      );
    });
    // No stray extra replies arrive afterwards.
    assert.deepEqual(await datagramsWithin(visitors[0] as UdpSocket, 100), []);
    assert.equal(udpSessions(stack), 50, 'one session per visitor address');
    assert.equal(echo.sourcePorts().size, 50, 'the client gave each session its own socket');
  });

  test('a DNS-like responder answers each visitor its own query id', async (t) => {
    const responder = await dnsLikeResponder(t);
    const { port } = await udpLab(t, responder);
    const visitors = await Promise.all(Array.from({ length: 20 }, () => udpSocket(t)));
    const answers = await Promise.all(
      visitors.map(async (visitor, n) => {
        const id = 0x1000 + n * 7;
        const query = Buffer.concat([Buffer.from([id >> 8, id & 0xff]), Buffer.from(`host-${n}.lab.`)]);
        const answer = await ask(visitor, port, query);
        return { id, n, answer };
      }),
    );
    for (const { id, n, answer } of answers) {
      assert.equal(answer.readUInt16BE(0), id, `visitor ${n} got the answer to its own query`);
      assert.equal(answer.subarray(2).toString(), `answer:host-${n}.lab.`);
    }
  });

  test('an idle session expires on both sides after the configured timeout, and activity keeps it alive', async (t) => {
    const echo = await udpEcho(t);
    const { stack, port } = await udpLab(t, echo, {}, { server: { udpIdleTimeoutMs: 400 } });
    const visitor = await udpSocket(t);
    // Six queries 150 ms apart span 750 ms, longer than the timeout: one session throughout.
    for (let i = 0; i < 6; i++) {
      assert.equal((await ask(visitor, port, tagged('keep', i))).toString(), `keep#${i}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    assert.equal(echo.sourcePorts().size, 1, 'the target saw one source port: the session lived');
    assert.equal(udpSessions(stack), 1);

    const started = Date.now();
    await waitFor(() => udpSessions(stack) === 0, 3000, 'the server to expire the session');
    const session = stack.server.sessions[0];
    await waitFor(() => session?.stats.busy === 0, 2000, 'the server channel to go back to the pool');
    const pool = (await onlineSession(stack)).pool;
    await waitFor(() => pool.stats.busy === 0, 2000, "the client's session (and its socket) to end");
    assert.ok(Date.now() - started < 2000);

    assert.equal(
      (await ask(visitor, port, Buffer.from('again'))).toString(),
      'again',
      'a new datagram starts anew',
    );
    assert.equal(echo.sourcePorts().size, 2, 'from a new client socket');
  });

  test('a security group refuses UDP visitors by address: no session, nothing reaches the target', async (t) => {
    const echo = await udpEcho(t);
    const security: SecurityPolicy = {
      id: 'office',
      defaultAction: 'allow',
      rules: [{ action: 'deny', cidr: '127.0.0.2/32' }],
    };
    const { stack, port } = await udpLab(t, echo, { security });
    const refused = await udpSocket(t, '127.0.0.2');
    const allowed = await udpSocket(t, '127.0.0.1');
    refused.send(Buffer.from('let me in'), port, '127.0.0.1');
    refused.send(Buffer.from('please'), port, '127.0.0.1');
    assert.deepEqual(await datagramsWithin(refused, 300), []);
    assert.equal((await ask(allowed, port, Buffer.from('hello'))).toString(), 'hello');
    assert.deepEqual(
      echo.received.map((r) => r.datagram.toString()),
      ['hello'],
      'the refused datagrams never reached the client or the target',
    );
    assert.equal(udpSessions(stack), 1);
    const denied = logged(stack.serverLog, 'MUON_ERR_ACCESS_DENIED');
    assert.equal(denied[0]?.remote, '127.0.0.2');
    assert.equal(denied[0]?.port, port);
  });

  test('a UDP session counts as a connection: beyond maxConnections new visitor addresses are dropped', async (t) => {
    const echo = await udpEcho(t);
    const { stack, port } = await udpLab(t, echo, { maxConnections: 2 });
    const [a, b, c] = await Promise.all([udpSocket(t), udpSocket(t), udpSocket(t)]);
    assert.equal((await ask(a as UdpSocket, port, Buffer.from('a'))).toString(), 'a');
    assert.equal((await ask(b as UdpSocket, port, Buffer.from('b'))).toString(), 'b');
    (c as UdpSocket).send(Buffer.from('c'), port, '127.0.0.1');
    assert.deepEqual(await datagramsWithin(c as UdpSocket, 300), []);
    assert.equal(
      (await ask(a as UdpSocket, port, Buffer.from('a2'))).toString(),
      'a2',
      'admitted ones go on',
    );
    const full = logged(stack.serverLog, 'MUON_ERR_CONNECTION_LIMIT');
    assert.equal(full[0]?.limit, 2);
  });

  test('datagrams beyond a speed limit are dropped, not queued: they never arrive later', async (t) => {
    const echo = await udpEcho(t);
    // 10,000 B/s with a 1,000-byte burst: of 40 datagrams of 1,000 bytes sent at once, a couple pass.
    const { port } = await udpLab(t, echo, { uploadLimit: 10_000 });
    const visitor = await udpSocket(t);
    for (let i = 0; i < 40; i++) visitor.send(Buffer.alloc(1000, i), port, '127.0.0.1');
    await datagramsWithin(visitor, 1500);
    const passed = echo.received.length;
    assert.ok(passed >= 1 && passed <= 6, `${passed} of 40 reached the target`);
    // 1.5 s later the debt is repaid: the next datagram passes, and none of the dropped ones follow it.
    assert.equal((await ask(visitor, port, Buffer.from('later'))).toString(), 'later');
    assert.equal(echo.received.length, passed + 1);
  });

  test('removing the mapping ends its sessions on both sides and closes the port', async (t) => {
    const echo = await udpEcho(t);
    const { stack, port, record } = await udpLab(t, echo);
    const visitors = await Promise.all([udpSocket(t), udpSocket(t), udpSocket(t)]);
    for (const [i, v] of visitors.entries())
      assert.equal((await ask(v, port, tagged('v', i))).toString(), `v#${i}`);
    assert.equal(udpSessions(stack), 3);
    const pool = (await onlineSession(stack)).pool;
    assert.equal(pool.stats.busy, 3, 'three sessions busy on the client');

    stack.directory.update({ ...record, mappings: [] });
    await waitFor(() => !stack.server.publicUdpPorts.includes(port), 2000, 'the UDP port to close');
    assert.equal(udpSessions(stack), 0);
    await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 2000, 'server channels to be released');
    await waitFor(() => pool.stats.busy === 0, 2000, "the client's sessions to end");
    (visitors[0] as UdpSocket).send(Buffer.from('anyone?'), port, '127.0.0.1');
    assert.deepEqual(await datagramsWithin(visitors[0] as UdpSocket, 200), []);
  });

  test("the client going away ends the mapping's sessions and closes its port", async (t) => {
    const echo = await udpEcho(t);
    const { stack, port } = await udpLab(t, echo);
    const visitor = await udpSocket(t);
    assert.equal((await ask(visitor, port, Buffer.from('hi'))).toString(), 'hi');
    const session = stack.server.sessions[0];
    assert.equal(session?.stats.udpSessions, 1);
    await Promise.all(stack.clients.map((c) => c.close()));
    await waitFor(() => stack.server.sessions.length === 0, 3000, 'the server to drop the session');
    assert.equal(session?.stats.udpSessions, 0);
    assert.ok(!stack.server.publicUdpPorts.includes(port));
  });

  test('a target that cannot be resolved ends the session at once with MUON_ERR_TARGET_UNREACHABLE', async (t) => {
    const port = await freeUdpPort();
    const record = license('lab', KEY, [
      {
        protocol: 'udp',
        publicPort: port,
        targetHost: 'no-such-host.invalid',
        targetPort: 53,
        id: 'lab:udp',
      },
    ]);
    const stack = await startStack(t, [record], { client: { targetConnectTimeoutMs: 1000 } });
    await stack.onlineClient(KEY);
    await waitFor(() => stack.server.publicUdpPorts.includes(port), 2000, 'the UDP port to open');
    const visitor = await udpSocket(t);
    visitor.send(Buffer.from('query'), port, '127.0.0.1');
    await waitFor(
      () => logged(stack.serverLog, 'MUON_ERR_TARGET_UNREACHABLE').length === 1,
      3000,
      'the server to hear of the failure',
    );
    await waitFor(() => udpSessions(stack) === 0, 2000, 'the session to end');
    assert.equal(logged(stack.clientLog, 'MUON_ERR_TARGET_UNREACHABLE').length, 1);
    visitor.send(Buffer.from('query again'), port, '127.0.0.1');
    await waitFor(
      () => logged(stack.serverLog, 'MUON_ERR_TARGET_UNREACHABLE').length === 2,
      3000,
      'a new session to try again',
    );
  });

  test('a client that does not announce UDP support gets no UDP port (its TCP ports still open)', async (t) => {
    const echo = await udpEcho(t);
    const udpPort = await freeUdpPort();
    const tcpPort = await freePort();
    const record = license('lab', KEY, [
      { protocol: 'udp', publicPort: udpPort, targetPort: echo.port, id: 'lab:udp' },
      { publicPort: tcpPort, targetPort: 9 },
    ]);
    const stack = await startStack(t, [record]);
    const peer = await RawPeer.connect(stack.tunnelPort);
    t.after(() => peer.destroy());
    const { reply } = await peer.handshake(KEY);
    assert.equal(reply.type, 'AUTH_OK');
    assert.deepEqual(reply.type === 'AUTH_OK' && reply.mappings.map((m) => [m.protocol, m.publicPort]), [
      ['tcp', tcpPort],
    ]);
    assert.deepEqual(stack.server.publicUdpPorts, []);
    assert.ok(stack.server.publicPorts.includes(tcpPort));
    const unsupported = logged(stack.serverLog, 'MUON_ERR_CLIENT_UNSUPPORTED');
    assert.equal(unsupported.length, 1);
    assert.equal(unsupported[0]?.mapping, 'lab:udp');
  });
});

async function onlineSession(stack: Stack) {
  const client = stack.clients[0];
  assert.ok(client?.session, 'the client is online');
  return client.session;
}
