// A `muon server` or `muon client` process that reaches its open-file limit (started through
// `sh -c 'ulimit -n 64; exec node …'`) while visitors pile in: it stays up, says so in its log
// (MUON_ERR_OUT_OF_FILES with the limit), closes the visitors it cannot serve instead of leaving
// them waiting, and serves normally again once they are gone. Real processes on 127.0.0.1.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dial, echoServer, freePort, type TestServer, waitFor } from '../support/net.ts';
import { echoes, type LogLine, MuonProcess } from '../support/processes.ts';
import { freeUdpPort, udpEcho, udpSocket } from '../support/udp.ts';

const KEY = 'fault-files-license-key-0123456789abcdef';
/** Far below what the visitors need: a process starts with some 25 descriptors in use. */
const LIMIT = 64;
const VISITORS = 60;

interface Setup {
  server: MuonProcess;
  client: MuonProcess;
  /** Public TCP port, to the echo service. */
  port: number;
  /** Public UDP port, to a UDP echo service on `udpTarget`. */
  udpPort: number;
  udpTarget: number;
}

/** An echo target, a server and a client on loopback, one of them under LIMIT; all cleaned up after `t`. */
async function start(
  t: { after: (fn: () => Promise<void>) => void },
  limited: 'server' | 'client',
): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-files-'));
  const limitFor = (side: 'server' | 'client') => (side === limited ? { fileLimit: LIMIT } : {});
  const children: MuonProcess[] = [];
  let echo: TestServer | undefined;
  t.after(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await echo?.close();
    await rm(dir, { recursive: true, force: true });
  });
  echo = await echoServer();
  const udpTarget = (await udpEcho(t)).port;
  const [port, tunnelPort, udpPort] = await Promise.all([freePort(), freePort(), freeUdpPort()]);
  const serverFile = join(dir, 'server.yaml');
  await writeFile(
    serverFile,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      `tunnel: { host: 127.0.0.1, port: ${tunnelPort} }`,
      'publicHost: 127.0.0.1',
      'admin: { enabled: false }',
      // Visitors that wait for a channel give up soon, so that none can hang past the test.
      'limits: { connectTimeout: 2s }',
      'licenses:',
      '  - name: lab',
      `    key: ${JSON.stringify(KEY)}`,
      '    mappings:',
      `      - { protocol: tcp, port: ${port}, target: "127.0.0.1:${echo.port}" }`,
      `      - { protocol: udp, port: ${udpPort}, target: "127.0.0.1:${udpTarget}" }`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const server = new MuonProcess('server', ['server', '--config', serverFile], {}, limitFor('server'));
  children.push(server);
  const ready = await server.waitForLog('muon server ready');
  const clientFile = join(dir, 'client.yaml');
  await writeFile(
    clientFile,
    [
      `server: 127.0.0.1:${tunnelPort}`,
      `license: ${JSON.stringify(KEY)}`,
      `tls: { fingerprint: "${String(ready.fingerprint)}" }`,
      'pool: { minIdle: 2 }',
      'reconnect: { initialDelay: 200ms, maxDelay: 1s }',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const client = new MuonProcess('client', ['client', '--config', clientFile], {}, limitFor('client'));
  children.push(client);
  await client.waitForLog('client online');
  assert.equal(await echoes(port), true, 'a visitor is served before the flood');
  return { server, client, port, udpPort, udpTarget };
}

type Outcome = 'served' | 'closed';

/** A visitor that sends a line and stays: served once the line comes back, closed if it ends first. */
async function visit(port: number, sockets: Socket[]): Promise<Outcome> {
  let socket: Socket;
  try {
    socket = await dial(port);
  } catch {
    return 'closed';
  }
  sockets.push(socket);
  socket.on('error', () => {});
  return new Promise((resolve) => {
    let echoed = '';
    socket.on('data', (c: Buffer) => {
      echoed += c;
      if (echoed === 'ping') resolve('served');
    });
    socket.once('end', () => resolve('closed'));
    socket.once('close', () => resolve('closed'));
    socket.write('ping');
  });
}

/** Opens VISITORS at once and waits (bounded) until each is served or closed. */
async function flood(
  port: number,
  sockets: Socket[],
): Promise<{ served: number; closed: number; pending: number }> {
  const outcomes: Array<Outcome | undefined> = new Array(VISITORS).fill(undefined);
  const settled = Promise.all(
    outcomes.map(async (_, i) => {
      outcomes[i] = await visit(port, sockets);
    }),
  );
  // The connect timeout (2 s) bounds every visitor the tunnel took in; the rest close at once.
  await Promise.race([settled, new Promise((r) => setTimeout(r, 6000))]);
  return {
    served: outcomes.filter((o) => o === 'served').length,
    closed: outcomes.filter((o) => o === 'closed').length,
    pending: outcomes.filter((o) => o === undefined).length,
  };
}

function outOfFilesLines(child: MuonProcess): LogLine[] {
  return child.logs().filter((l) => l.code === 'MUON_ERR_OUT_OF_FILES');
}

/** Closes the flood's visitors, then expects several visitors in a row to be served. */
async function servesAgain(port: number, sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await waitFor(() => echoes(port, 'again', 1000), 8000, 'a visitor to be served after the flood');
  for (let i = 0; i < 5; i++)
    assert.equal(await echoes(port, `after ${i}`), true, `visitor ${i} after the flood`);
}

test('a server at its open-file limit stays up, logs MUON_ERR_OUT_OF_FILES with the limit, closes the visitors it cannot hold, and serves again after', {
  timeout: 30_000,
}, async (t) => {
  const { server, client, port } = await start(t, 'server');
  const sockets: Socket[] = [];
  t.after(() => {
    for (const socket of sockets) socket.destroy();
  });
  const result = await flood(port, sockets);
  t.diagnostic(`visitors: ${JSON.stringify(result)}`);

  assert.equal(server.running, true, `the server is still running:\n${server.stderr}`);
  assert.equal(result.pending, 0, 'no visitor is left hanging');
  assert.ok(result.served > 0, 'the visitors that fit are served');
  assert.ok(result.closed > 0, 'the visitors beyond the limit are closed');
  const warnings = outOfFilesLines(server);
  assert.ok(warnings.length > 0, 'the server says it is out of file descriptors');
  for (const line of warnings) {
    assert.equal(line.level, 40, 'a warning');
    assert.equal(line.limit, LIMIT, 'naming the limit');
    assert.match(String(line.msg), new RegExp(`open-file limit ${LIMIT}`));
  }
  t.diagnostic(`server: ${JSON.stringify(warnings[0])}`);
  assert.ok(warnings.length <= 1 + 6, 'at most one line a second');

  await servesAgain(port, sockets);
  assert.equal(server.running, true);
  assert.equal(client.running, true);
  assert.doesNotMatch(server.stderr, /Error|uncaught/i, 'nothing thrown');
});

test('a client at its open-file limit stays up, logs MUON_ERR_OUT_OF_FILES with the limit, tells the server why, and serves again after', {
  timeout: 30_000,
}, async (t) => {
  const { server, client, port } = await start(t, 'client');
  const sockets: Socket[] = [];
  t.after(() => {
    for (const socket of sockets) socket.destroy();
  });
  const result = await flood(port, sockets);
  t.diagnostic(`visitors: ${JSON.stringify(result)}`);

  assert.equal(client.running, true, `the client is still running:\n${client.stderr}`);
  assert.equal(result.pending, 0, 'no visitor is left hanging');
  assert.ok(result.closed > 0, 'the visitors beyond the limit are closed');
  const warnings = outOfFilesLines(client);
  assert.ok(warnings.length > 0, 'the client says it is out of file descriptors');
  for (const line of warnings) {
    assert.equal(line.level, 40, 'a warning');
    assert.equal(line.limit, LIMIT, 'naming the limit');
  }
  t.diagnostic(`client: ${JSON.stringify(warnings[0])}`);
  // The target could not be dialled: the DISCONNECT names the cause, and the server logs it.
  const told = outOfFilesLines(server).filter((l) => l.msg?.startsWith('visitor closed'));
  assert.ok(told.length > 0, 'the server logs why the client closed the visitors');
  t.diagnostic(`server: ${JSON.stringify(told[0])}`);

  await servesAgain(port, sockets);
  assert.equal(client.running, true);
  assert.doesNotMatch(client.stderr, /Error|uncaught/i, 'nothing thrown');
});

test('a client at its open-file limit names MUON_ERR_OUT_OF_FILES, not an unreachable target, for UDP sessions it cannot open a socket for', {
  timeout: 30_000,
}, async (t) => {
  const { client, udpPort, udpTarget } = await start(t, 'client');
  // Each visitor address is a UDP session of its own: a proxy channel and a socket on the client.
  const visitors = await Promise.all(Array.from({ length: VISITORS }, () => udpSocket(t)));
  const dialFailed = (l: LogLine) => String(l.msg).includes(`cannot dial 127.0.0.1:${udpTarget}`);
  // Datagrams may be dropped on the way while the client is out of descriptors: keep sending.
  const send = () => {
    for (const visitor of visitors) visitor.send('ping', udpPort, '127.0.0.1');
  };
  send();
  const resend = setInterval(send, 200);
  t.after(() => clearInterval(resend));
  await waitFor(
    () => outOfFilesLines(client).some(dialFailed),
    15_000,
    'the client to say it has no descriptor for a UDP target socket',
  );
  clearInterval(resend);
  assert.equal(client.running, true, `the client is still running:\n${client.stderr}`);
  const blamed = client.logs().filter((l) => l.code === 'MUON_ERR_TARGET_UNREACHABLE');
  assert.deepEqual(blamed, [], 'no UDP session is blamed on the target');
  assert.doesNotMatch(client.stderr, /Error|uncaught/i, 'nothing thrown');
});
