// What the target sees and what the visitor gets through the router: forwarded headers (the
// visitor's own replaced), host rewrite, basic auth (401 until the right credentials, which the
// target never sees; 429 after too many wrong ones), pipelined requests with bodies answered in
// order, a chunked upload byte-exact, and a WebSocket-style upgrade whose bytes flow raw.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import {
  domain,
  exchange,
  httpLicense,
  httpMapping,
  httpTarget,
  open,
  route,
  startHttpStack,
  statusOf,
} from '../support/http.ts';
import { KEY } from '../support/stack.ts';

async function oneMapping(t: import('node:test').TestContext, extra: Parameters<typeof route>[4] = {}) {
  const target = await httpTarget(t, 'T', (req, res, body) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ headers: req.headers, bytes: body.length }));
  });
  const http = await startHttpStack(t, [httpLicense('lab', KEY, [httpMapping('m', target.port)])], {
    routes: [route('app.example.test', 'lab', 'm', target.port, extra)],
    domains: [domain('example.test')],
  });
  await http.stack.onlineClient(KEY);
  return { ...http, target };
}

function bodyOf(text: string): string {
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

describe('headers the target sees', () => {
  test('forwarded headers carry what the server saw; the visitor cannot forge them', async (t) => {
    const { httpPort, target } = await oneMapping(t);
    await exchange(
      httpPort,
      'GET / HTTP/1.1\r\nHost: app.example.test:8080\r\nX-Forwarded-For: 6.6.6.6\r\n' +
        'X-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n',
    );
    const seen = target.seen[0]?.headers;
    assert.equal(seen?.['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen?.['x-forwarded-proto'], 'http');
    assert.equal(seen?.['x-forwarded-host'], 'app.example.test:8080');
    assert.equal(seen?.forwarded, undefined);
    assert.equal(seen?.host, 'app.example.test:8080', 'Host is kept without host rewrite');
  });

  test('without forwarded headers the request passes as sent; host rewrite names the target', async (t) => {
    const { httpPort, target } = await oneMapping(t, { addForwardedHeaders: false, rewriteHost: true });
    await exchange(
      httpPort,
      'GET / HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n',
    );
    const seen = target.seen[0]?.headers;
    assert.equal(seen?.['x-forwarded-for'], '10.1.2.3');
    assert.equal(seen?.['x-forwarded-proto'], undefined);
    assert.equal(seen?.host, `127.0.0.1:${target.port}`);
  });
});

describe('basic auth', () => {
  test('401 with a challenge until the right credentials; the target never sees them', async (t) => {
    const passwordHash = await hashPassword('open sesame');
    const { httpPort, target } = await oneMapping(t, { basicAuth: { username: 'ali', passwordHash } });
    const ask = (auth?: string) =>
      exchange(
        httpPort,
        `GET /secret HTTP/1.1\r\nHost: app.example.test\r\n${auth ? `Authorization: ${auth}\r\n` : ''}Connection: close\r\n\r\n`,
      );
    const basic = (user: string, pass: string) =>
      `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

    const none = await ask();
    assert.equal(statusOf(none), 401);
    assert.match(none, /WWW-Authenticate: Basic realm="app\.example\.test", charset="UTF-8"/);
    assert.match(none, /MUON_ERR_HTTP_AUTH_REQUIRED/);
    assert.equal(statusOf(await ask(basic('ali', 'wrong'))), 401);
    assert.equal(statusOf(await ask(basic('bob', 'open sesame'))), 401, 'the user name counts too');
    assert.equal(statusOf(await ask('Bearer abc')), 401);
    assert.equal(target.seen.length, 0);

    const ok = await ask(basic('ali', 'open sesame'));
    assert.equal(statusOf(ok), 200);
    assert.equal(target.seen.length, 1);
    assert.equal(target.seen[0]?.headers.authorization, undefined, 'the credentials stay at the server');
  });

  test('too many wrong passwords from one address: 429 for the rest of the minute', async (t) => {
    const passwordHash = await hashPassword('right');
    const { httpPort } = await oneMapping(t, { basicAuth: { username: 'u', passwordHash } });
    const wrong = `Basic ${Buffer.from('u:wrong').toString('base64')}`;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      statuses.push(
        statusOf(
          await exchange(
            httpPort,
            `GET / HTTP/1.1\r\nHost: app.example.test\r\nAuthorization: ${wrong}\r\nConnection: close\r\n\r\n`,
          ),
        ),
      );
    }
    assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
  });
});

describe('streams of requests', () => {
  test('pipelined requests with bodies are answered in order on one connection', async (t) => {
    const { httpPort, target } = await oneMapping(t);
    const connection = await open(httpPort);
    connection.socket.write(
      'POST /1 HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 5\r\n\r\nhello' +
        'PUT /2 HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-For: 6.6.6.6\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n' +
        'GET /3 HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n',
    );
    const text = await connection.closed();
    assert.deepEqual(
      [...text.matchAll(/"bytes":(\d+)/g)].map((m) => Number(m[1])),
      [5, 7, 0],
    );
    assert.deepEqual(
      target.seen.map((s) => `${s.method} ${s.url}`),
      ['POST /1', 'PUT /2', 'GET /3'],
    );
    assert.deepEqual(
      target.seen.map((s) => s.headers['x-forwarded-for']),
      ['127.0.0.1', '127.0.0.1', '127.0.0.1'],
      'every request of the connection is rewritten',
    );
  });

  test('a chunked upload arrives byte-exact', async (t) => {
    const { httpPort, target } = await oneMapping(t);
    const pieces = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i * 997));
    const digest = createHash('sha256');
    for (const p of pieces) digest.update(p);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: httpPort,
          method: 'POST',
          path: '/up',
          headers: { host: 'app.example.test' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      for (const p of pieces) req.write(p);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(target.seen[0]?.headers['transfer-encoding'], 'chunked');
    assert.equal(target.seen[0]?.sha256, digest.digest('hex'));
  });
});

test('an upgrade (WebSocket handshake) switches the connection to raw bytes both ways', async (t) => {
  // A minimal upgrade echo: answers 101, then sends back every byte it receives.
  const echo = createServer((_req, res) => res.end('not an upgrade'));
  const sockets = new Set<Socket>();
  echo.on('upgrade', (req, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `X-Seen-Proto: ${req.headers['x-forwarded-proto']}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    echo.close();
  });
  const port = (echo.address() as AddressInfo).port;
  const { stack, httpPort } = await startHttpStack(t, [httpLicense('lab', KEY, [httpMapping('ws', port)])], {
    routes: [route('ws.example.test', 'lab', 'ws', port)],
    domains: [domain('example.test')],
  });
  await stack.onlineClient(KEY);

  const connection = await open(httpPort);
  connection.socket.write(
    'GET /chat HTTP/1.1\r\nHost: ws.example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await connection.until(/\r\n\r\n/);
  assert.equal(statusOf(connection.text()), 101);
  assert.match(connection.text(), /X-Seen-Proto: http\r\n/);
  // Bytes that look like HTTP must pass untouched now, as must binary.
  const frames = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: evil\r\n\r\n'), randomBytes(5000)]);
  connection.socket.write(frames);
  const headLength = connection.text().indexOf('\r\n\r\n') + 4;
  await connection.until(new RegExp(`^[\\s\\S]{${headLength + frames.length}}`));
  const echoed = Buffer.from(connection.text(), 'latin1').subarray(headLength);
  assert.ok(echoed.equals(frames), 'echoed byte for byte');
  connection.socket.end();
  await connection.closed();
});

test('a refused upgrade leaves the connection speaking HTTP', async (t) => {
  const { httpPort, target } = await oneMapping(t);
  const connection = await open(httpPort);
  connection.socket.write(
    'GET /no HTTP/1.1\r\nHost: app.example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
      'GET /next HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n',
  );
  const text = await connection.closed();
  assert.equal([...text.matchAll(/HTTP\/1\.1 200/g)].length, 2);
  assert.deepEqual(
    target.seen.map((s) => s.url),
    ['/no', '/next'],
  );
  assert.equal(bodyOf(text).length > 0, true);
});

test("the mapping's speed limit holds an HTTP download back", async (t) => {
  const body = Buffer.alloc(150_000, 7);
  const target = await httpTarget(t, 'T', (_req, res) => res.end(body));
  const { stack, httpPort } = await startHttpStack(
    t,
    [httpLicense('lab', KEY, [httpMapping('m', target.port, { downloadLimit: 100_000 })])],
    { routes: [route('app.example.test', 'lab', 'm', target.port)], domains: [domain('example.test')] },
  );
  await stack.onlineClient(KEY);
  const started = performance.now();
  const answer = await exchange(
    httpPort,
    'GET / HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n',
  );
  const seconds = (performance.now() - started) / 1000;
  assert.equal(bodyOf(answer).length, body.length);
  // 150 kB at 100 kB/s: a chunk is counted after it is passed on, so the last one goes out
  // before its debt is paid; still far from the few milliseconds it takes unlimited.
  assert.ok(seconds > 0.8, `took ${seconds.toFixed(2)} s`);
});
