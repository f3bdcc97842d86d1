// Visitors the server turns away are counted in muon_visitors_refused_total, by code, protocol and
// public port, as a Prometheus scraper reads them from GET /metrics: refused by the security group,
// at a connection limit, with the target down, with the client silent (connect timeout), with no
// client online (HTTP), and per datagram for a refused UDP address. Admitted visitors add nothing.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { type TestContext, test } from 'node:test';
import { AdminServer } from '../../src/admin/admin-server.ts';
import { createAdminApp } from '../../src/admin/app.ts';
import { Metrics } from '../../src/admin/metrics.ts';
import { SessionTokens } from '../../src/admin/session-tokens.ts';
import { FailureLimiter } from '../../src/net/failure-limiter.ts';
import type { SecurityPolicy } from '../../src/server/directory.ts';
import { MemoryAccounts } from '../support/admin.ts';
import {
  domain,
  exchange,
  httpLicense,
  httpMapping,
  httpTarget,
  route,
  startHttpStack,
  statusOf,
} from '../support/http.ts';
import { closedWithin, dial, freePort, listenLocal, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, LogCapture, license, startStack } from '../support/stack.ts';
import { freeUdpPort, udpEcho, udpSocket } from '../support/udp.ts';

const TOKEN = 'refused-visitors-metrics-token-0123';
const DENY_ALL: SecurityPolicy = { id: 'closed', rules: [], defaultAction: 'deny' };
const KEY_B = 'second-license-key-0123456789abcdef';

/** Serves `metrics` at GET /metrics on 127.0.0.1:0 and returns a scraper for it. */
async function scraper(t: TestContext, metrics: Metrics): Promise<() => Promise<string>> {
  const app = createAdminApp({
    accounts: new MemoryAccounts(),
    tokens: new SessionTokens({ idleMs: 60_000, maxAgeMs: 3_600_000 }),
    loginFailures: new FailureLimiter({ maxFailures: 5, windowMs: 60_000 }),
    metrics,
    logger: new LogCapture().logger,
    secureCookies: false,
    metricsToken: TOKEN,
  });
  const server = new AdminServer(async () => app, { host: '127.0.0.1', port: 0 });
  await server.listen();
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address?.port}/metrics`;
  return async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    return response.text();
  };
}

/** Every muon_visitors_refused_total series in `text`, as `code protocol port` → count. */
function refusals(text: string): Record<string, number> {
  const result: Record<string, number> = {};
  const series = /^muon_visitors_refused_total\{code="([^"]+)",protocol="([^"]+)",port="(\d+)"\} (\d+)$/gm;
  for (const [, code, protocol, port, count] of text.matchAll(series)) {
    result[`${code} ${protocol} ${port}`] = Number(count);
  }
  return result;
}

/** Connects, says hello and resolves once the server has closed the connection unanswered. */
async function refusedVisit(port: number): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port });
  let answered = false;
  socket.on('error', () => {});
  socket.on('data', () => {
    answered = true;
  });
  socket.write('hello');
  assert.equal(await closedWithin(socket, 3000), true, 'the visitor is closed');
  assert.equal(answered, false, 'a refused visitor gets no answer');
}

test('TCP: security group, connection limit and a dead target each count under their code and port', async (t) => {
  const echo = await listenLocal((socket) => socket.pipe(socket));
  t.after(() => echo.close());
  const [denied, single, dead, down] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const metrics = new Metrics(() => 0);
  const stack = await startStack(
    t,
    [
      license('lab', KEY, [
        { publicPort: denied, targetPort: echo.port, security: DENY_ALL },
        { publicPort: single, targetPort: echo.port, maxConnections: 1 },
        { publicPort: dead, targetPort: down },
      ]),
    ],
    { server: { observer: metrics } },
  );
  const scrape = await scraper(t, metrics);
  await stack.onlineClient(KEY);
  assert.deepEqual(refusals(await scrape()), {}, 'nothing refused yet');

  await refusedVisit(denied);
  await refusedVisit(denied);

  const held = await dial(single);
  held.write('ping');
  await new Promise((resolve) => held.once('data', resolve));
  await refusedVisit(single);
  held.destroy();

  await refusedVisit(dead);

  assert.deepEqual(refusals(await scrape()), {
    [`MUON_ERR_ACCESS_DENIED tcp ${denied}`]: 2,
    [`MUON_ERR_CONNECTION_LIMIT tcp ${single}`]: 1,
    [`MUON_ERR_TARGET_UNREACHABLE tcp ${dead}`]: 1,
  });
  assert.match(await scrape(), /# TYPE muon_visitors_refused_total counter/);
});

test('TCP: a visitor the client never sets up counts as MUON_ERR_CONNECT_TIMEOUT', async (t) => {
  const port = await freePort();
  const metrics = new Metrics(() => 0);
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: 9 }])], {
    server: { observer: metrics, connectTimeoutMs: 300 },
  });
  const scrape = await scraper(t, metrics);
  // A client that authenticates and then never opens a proxy channel.
  const mute = await RawPeer.connect(stack.tunnelPort);
  t.after(() => mute.destroy());
  assert.equal((await mute.authenticate(KEY)).type, 'AUTH_OK');
  await waitFor(() => stack.server.publicPorts.includes(port), 2000, 'the port to open');

  await refusedVisit(port);
  assert.deepEqual(refusals(await scrape()), { [`MUON_ERR_CONNECT_TIMEOUT tcp ${port}`]: 1 });
});

test('HTTP: a security-group 403 and an offline client count under the shared port, protocol http, and the log names that port', async (t) => {
  const a = await httpTarget(t, 'A');
  const metrics = new Metrics(() => 0);
  const { stack, httpPort } = await startHttpStack(
    t,
    [
      httpLicense('lab', KEY, [
        httpMapping('m-deny', a.port, { security: DENY_ALL }),
        httpMapping('m-a', a.port),
      ]),
      httpLicense('away', KEY_B, [httpMapping('m-away', a.port)]),
    ],
    {
      routes: [
        route('deny.example.test', 'lab', 'm-deny', a.port),
        route('a.example.test', 'lab', 'm-a', a.port),
        route('away.example.test', 'away', 'm-away', a.port),
      ],
      domains: [domain('example.test')],
    },
    { stack: { server: { observer: metrics } } },
  );
  const scrape = await scraper(t, metrics);
  await stack.onlineClient(KEY);
  const get = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

  assert.equal(statusOf(await exchange(httpPort, get('deny.example.test'))), 403);
  assert.equal(statusOf(await exchange(httpPort, get('away.example.test'))), 502);
  assert.equal(statusOf(await exchange(httpPort, get('a.example.test'))), 200);
  assert.deepEqual(refusals(await scrape()), {
    [`MUON_ERR_ACCESS_DENIED http ${httpPort}`]: 1,
    [`MUON_ERR_NO_CLIENT http ${httpPort}`]: 1,
  });
  const denied = stack.serverLog.lines
    .map((line) => JSON.parse(line) as { msg?: string; port?: number })
    .filter((entry) => entry.msg === 'visitor refused by the security group');
  assert.deepEqual(
    denied.map((entry) => entry.port),
    [httpPort],
    'the log line names the shared port too',
  );
});

test('UDP: every datagram of an address the security group refuses counts once', async (t) => {
  const echo = await udpEcho(t);
  const port = await freeUdpPort();
  const metrics = new Metrics(() => 0);
  const stack = await startStack(
    t,
    [license('lab', KEY, [{ protocol: 'udp', publicPort: port, targetPort: echo.port, security: DENY_ALL }])],
    { server: { observer: metrics } },
  );
  const scrape = await scraper(t, metrics);
  await stack.onlineClient(KEY);
  await waitFor(() => stack.server.publicUdpPorts.includes(port), 2000, 'the UDP port to open');

  const visitor = await udpSocket(t);
  for (let i = 0; i < 3; i++) visitor.send(Buffer.from(`q${i}`), port, '127.0.0.1');
  const series = `MUON_ERR_ACCESS_DENIED udp ${port}`;
  await waitFor(async () => refusals(await scrape())[series] === 3, 3000, 'three refused datagrams');
  assert.equal(echo.received.length, 0, 'nothing reached the target');
});
