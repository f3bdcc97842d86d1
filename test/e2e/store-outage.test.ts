// PostgreSQL becomes unreachable while tunnels run (every connection to it cut, new ones
// refused, through a loopback proxy in front of a real server): the tunnel keeps carrying
// visitors, the admin API answers 503 MUON_ERR_STORE_UNAVAILABLE, and when the database is
// back everything recovers by itself, with the traffic counted during the outage saved.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import pg from 'pg';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

const PG_URL = process.env.MUON_TEST_PG_URL;

/** A TCP proxy to PostgreSQL that can be cut (connections destroyed, port closed) and restored. */
async function cuttableProxy(target: URL) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async () => {
    server = createServer((visitor) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port) });
      for (const s of [visitor, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      visitor.pipe(upstream).pipe(visitor);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  };
  const cut = async () => {
    const closing = server && new Promise((resolve) => server?.close(resolve));
    for (const s of sockets) s.destroy();
    await closing;
  };
  await listen();
  return { port, cut, restore: listen };
}

test('an unreachable PostgreSQL: tunnels keep working, the API says 503, recovery is automatic', {
  skip: PG_URL ? false : 'needs MUON_TEST_PG_URL (npm test provides it)',
}, async (t) => {
  const url = new URL(PG_URL ?? '');
  const database = `muon_outage_${process.pid}`;
  const admin = new pg.Client({ connectionString: url.href });
  await admin.connect();
  t.after(async () => {
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  });
  await admin.query(`create database ${database}`);

  const proxy = await cuttableProxy(url);
  t.after(() => proxy.cut());
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const storeUrl = new URL(url.href);
  storeUrl.port = String(proxy.port);
  storeUrl.pathname = `/${database}`;
  const rt = await startRuntime(t, [
    `store: { url: "${storeUrl.href}" }`,
    'licenses:',
    '  - name: plant',
    '    key: outage-test-key-0123456789abcdef',
    `    mappings: [{ protocol: tcp, port: ${port}, target: "127.0.0.1:${echo.port}" }]`,
  ]);
  const client = rt.client('outage-test-key-0123456789abcdef');
  await once(client, 'online', { signal: AbortSignal.timeout(5000) });
  await waitFor(() => rt.runtime.tunnel.publicPorts.includes(port), 2000, 'the mapping');
  const token = await rt.login('admin', ADMIN_PASSWORD);
  assert.equal((await rt.call('GET', '/api/licenses', token)).status, 200);

  const roundTrip = async (payload: string) => {
    const visitor = await dial(port);
    const reply = readAll(visitor);
    visitor.end(payload);
    return (await reply).toString();
  };

  await proxy.cut();
  const during = 'carried while the database is away';
  assert.equal(await roundTrip(during), during, 'new visitors are still carried');
  const answer = await rt.call('GET', '/api/licenses', token);
  assert.equal(answer.status, 503);
  assert.equal(answer.json.error.code, 'MUON_ERR_STORE_UNAVAILABLE');
  assert.doesNotMatch(JSON.stringify(answer.json), /password|stack|at \w+ \(/i, 'no details leak');
  assert.equal((await rt.call('GET', '/healthz', token)).status, 200, 'the process itself is healthy');

  await proxy.restore();
  await waitFor(async () => (await rt.call('GET', '/api/licenses', token)).status === 200, 15_000, 'the API');
  const after = 'and after it is back';
  assert.equal(await roundTrip(after), after);

  // A clean stop flushes the traffic it still holds; none of it was lost to the outage.
  await rt.runtime.close();
  const check = new pg.Client({ connectionString: storeUrl.href.replace(`:${proxy.port}`, `:${url.port}`) });
  await check.connect();
  const { rows } = await check.query(
    "select sum(bytes_in)::text as i, sum(bytes_out)::text as o from traffic_stats where granularity = 'minute'",
  );
  await check.end();
  const moved = String(Buffer.byteLength(during) + Buffer.byteLength(after));
  assert.deepEqual(
    rows[0],
    { i: moved, o: moved },
    'the bytes moved during and after the outage are counted',
  );
});
