// Routing on the shared HTTP port through real clients to real node:http targets: each Host
// reaches its mapping (exact names, one-label wildcards, several domains and licenses), a
// kept-alive connection may move to another host, and the router's own pages carry their code:
// 404 unknown host, 502 client offline or target down, 400/431/405 refused requests, 403 by
// security group, 503 at the connection limit, 408 for a stalled head, 308 to HTTPS.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
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
import { freePort, listenLocal, waitFor } from '../support/net.ts';
import { KEY } from '../support/stack.ts';

const KEY_B = 'second-license-key-0123456789abcdef';

function get(host: string, path = '/'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}

describe('routing by Host', () => {
  test('each host reaches its own mapping, across domains, licenses and wildcards', async (t) => {
    const [a, b, c] = await Promise.all([httpTarget(t, 'A'), httpTarget(t, 'B'), httpTarget(t, 'C')]);
    const { stack, httpPort } = await startHttpStack(
      t,
      [
        httpLicense('lab', KEY, [httpMapping('m-a', a.port), httpMapping('m-b', b.port)]),
        httpLicense('office', KEY_B, [httpMapping('m-c', c.port)]),
      ],
      {
        routes: [
          route('app.example.test', 'lab', 'm-a', a.port),
          route('*.wild.example.test', 'lab', 'm-b', b.port),
          route('api.other.test', 'office', 'm-c', c.port),
        ],
        domains: [domain('example.test'), domain('other.test')],
      },
    );
    await Promise.all([stack.onlineClient(KEY), stack.onlineClient(KEY_B)]);

    const answers = await Promise.all([
      exchange(httpPort, get('app.example.test', '/one')),
      exchange(httpPort, get('APP.Example.Test.:80', '/two')),
      exchange(httpPort, get('x.wild.example.test', '/three')),
      exchange(httpPort, get('api.other.test', '/four')),
    ]);
    assert.deepEqual(
      answers.map((text) => [statusOf(text), text.slice(text.indexOf('\r\n\r\n') + 4)]),
      [
        [200, 'A GET /one'],
        [200, 'A GET /two'],
        [200, 'B GET /three'],
        [200, 'C GET /four'],
      ],
    );

    for (const host of [
      'nothing.example.test',
      'wild.example.test',
      'a.b.wild.example.test',
      'unknown.test',
    ]) {
      const page = await exchange(httpPort, get(host));
      assert.equal(statusOf(page), 404, host);
      assert.match(page, /X-Muon-Error: MUON_ERR_HOST_UNKNOWN/);
      assert.match(page, /<code>MUON_ERR_HOST_UNKNOWN<\/code>/);
    }
  });

  test('a kept-alive connection can move to another host: the first is answered, then the second', async (t) => {
    const [a, b] = await Promise.all([httpTarget(t, 'A'), httpTarget(t, 'B')]);
    const { stack, httpPort } = await startHttpStack(
      t,
      [httpLicense('lab', KEY, [httpMapping('m-a', a.port), httpMapping('m-b', b.port)])],
      {
        routes: [
          route('a.example.test', 'lab', 'm-a', a.port),
          route('b.example.test', 'lab', 'm-b', b.port),
        ],
        domains: [domain('example.test')],
      },
    );
    await stack.onlineClient(KEY);
    const connection = await open(httpPort);
    connection.socket.write(
      'GET /1 HTTP/1.1\r\nHost: a.example.test\r\n\r\n' +
        'GET /2 HTTP/1.1\r\nHost: b.example.test\r\n\r\n' +
        'GET /3 HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n',
    );
    const text = await connection.closed();
    const bodies = [...text.matchAll(/\r\n\r\n([AB] GET \/\d)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['A GET /1', 'B GET /2', 'A GET /3']);
  });
});

describe('pages the router answers itself', () => {
  test('502 when the client is offline, and when the target is down', async (t) => {
    const a = await httpTarget(t, 'A');
    const down = await freePort();
    const { stack, httpPort } = await startHttpStack(
      t,
      [
        httpLicense('lab', KEY, [httpMapping('m-a', a.port), httpMapping('m-down', down)]),
        httpLicense('offline', KEY_B, [httpMapping('m-off', a.port)]),
      ],
      {
        routes: [
          route('a.example.test', 'lab', 'm-a', a.port),
          route('down.example.test', 'lab', 'm-down', down),
          route('off.example.test', 'offline', 'm-off', a.port),
        ],
        domains: [domain('example.test')],
      },
    );
    await stack.onlineClient(KEY);
    const offline = await exchange(httpPort, get('off.example.test'));
    assert.equal(statusOf(offline), 502);
    assert.match(offline, /MUON_ERR_NO_CLIENT/);
    const unreachable = await exchange(httpPort, get('down.example.test'));
    assert.equal(statusOf(unreachable), 502);
    assert.match(unreachable, /MUON_ERR_TARGET_UNREACHABLE/);
    assert.match(unreachable, /Content-Type: text\/html; charset=utf-8/);
    assert.equal(statusOf(await exchange(httpPort, get('a.example.test'))), 200, 'the others still work');
  });

  test('502 when the target closes without answering, or answers with something that is not HTTP', async (t) => {
    const silent = await listenLocal((socket) => socket.end());
    const ssh = await listenLocal((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    t.after(() => Promise.all([silent.close(), ssh.close()]));
    const { stack, httpPort } = await startHttpStack(
      t,
      [httpLicense('lab', KEY, [httpMapping('m-silent', silent.port), httpMapping('m-ssh', ssh.port)])],
      {
        routes: [
          route('silent.example.test', 'lab', 'm-silent', silent.port),
          route('ssh.example.test', 'lab', 'm-ssh', ssh.port),
        ],
        domains: [domain('example.test')],
      },
    );
    await stack.onlineClient(KEY);
    for (const host of ['silent.example.test', 'ssh.example.test']) {
      const page = await exchange(httpPort, get(host));
      assert.equal(statusOf(page), 502, host);
      assert.match(page, /X-Muon-Error: MUON_ERR_BAD_RESPONSE/);
    }
  });

  test('502 when the client goes away while a request waits for its answer', async (t) => {
    const hanging = await httpTarget(t, 'H', () => {}); // never answers
    const { stack, httpPort } = await startHttpStack(
      t,
      [httpLicense('lab', KEY, [httpMapping('m-h', hanging.port)])],
      {
        routes: [route('hang.example.test', 'lab', 'm-h', hanging.port)],
        domains: [domain('example.test')],
      },
    );
    const client = await stack.onlineClient(KEY);
    const connection = await open(httpPort);
    connection.socket.write(get('hang.example.test'));
    await waitFor(() => hanging.seen.length === 1, 2000, 'the request to arrive');
    await client.close();
    const page = await connection.closed();
    assert.equal(statusOf(page), 502);
    assert.match(page, /X-Muon-Error: MUON_ERR_/);
  });

  test('malformed, oversized and unsupported requests get 400, 431, 405, 505 with their code', async (t) => {
    const { httpPort } = await startHttpStack(t, [], { routes: [], domains: [] });
    const cases: [string, number, string][] = [
      [
        'POST / HTTP/1.1\r\nHost: a.example.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
        400,
        'MUON_ERR_HTTP_MALFORMED',
      ],
      ['GET / HTTP/1.1\r\nHost: a.example.test\r\nX: a\r\n b\r\n\r\n', 400, 'MUON_ERR_HTTP_MALFORMED'],
      [
        `GET / HTTP/1.1\r\nHost: a.example.test\r\nCookie: ${'c'.repeat(40_000)}\r\n\r\n`,
        431,
        'MUON_ERR_HTTP_HEAD_TOO_LARGE',
      ],
      [
        'CONNECT a.example.test:443 HTTP/1.1\r\nHost: a.example.test:443\r\n\r\n',
        405,
        'MUON_ERR_HTTP_MALFORMED',
      ],
      ['GET / HTTP/3.0\r\nHost: a.example.test\r\n\r\n', 505, 'MUON_ERR_HTTP_MALFORMED'],
    ];
    for (const [text, status, code] of cases) {
      const page = await exchange(httpPort, text);
      assert.equal(statusOf(page), status, text.slice(0, 40));
      assert.match(page, new RegExp(code));
    }
  });

  test('408 when a started head stalls; an idle kept-alive connection is closed without a page', async (t) => {
    const { httpPort } = await startHttpStack(
      t,
      [],
      { routes: [], domains: [] },
      {
        router: { headTimeoutMs: 200, idleTimeoutMs: 300 },
      },
    );
    const stalled = await open(httpPort);
    stalled.socket.write('GET / HTTP/1.1\r\nHost: a.exa');
    const page = await stalled.closed(3000);
    assert.equal(statusOf(page), 408);
    assert.match(page, /MUON_ERR_HTTP_TIMEOUT/);
    const idle = await open(httpPort);
    const started = Date.now();
    assert.equal(await idle.closed(3000), '');
    assert.ok(Date.now() - started >= 250);
  });

  test('403 for a visitor the security group refuses; 503 at the connection limit', async (t) => {
    const a = await httpTarget(t, 'A');
    const deny = { id: 'closed', rules: [], defaultAction: 'deny' as const };
    const { stack, httpPort } = await startHttpStack(
      t,
      [
        httpLicense('lab', KEY, [
          httpMapping('m-deny', a.port, { security: deny }),
          httpMapping('m-one', a.port, { maxConnections: 1 }),
        ]),
      ],
      {
        routes: [
          route('deny.example.test', 'lab', 'm-deny', a.port),
          route('one.example.test', 'lab', 'm-one', a.port),
        ],
        domains: [domain('example.test')],
      },
    );
    await stack.onlineClient(KEY);
    const refused = await exchange(httpPort, get('deny.example.test'));
    assert.equal(statusOf(refused), 403);
    assert.match(refused, /MUON_ERR_ACCESS_DENIED/);
    assert.equal(a.seen.length, 0, 'the target never heard of it');

    const first = await open(httpPort);
    first.socket.write('GET /keep HTTP/1.1\r\nHost: one.example.test\r\n\r\n');
    await first.until(/A GET \/keep/);
    const second = await exchange(httpPort, get('one.example.test'));
    assert.equal(statusOf(second), 503);
    assert.match(second, /MUON_ERR_CONNECTION_LIMIT/);
    first.socket.destroy();
  });

  test('308 to HTTPS for a force-HTTPS domain, with the path and the HTTPS port', async (t) => {
    const { httpPort, httpsPort } = await startHttpStack(t, [], {
      routes: [],
      domains: [domain('secure.test', { forceHttps: true }), domain('plain.test')],
    });
    const redirect = await exchange(httpPort, get('www.secure.test', '/a/b?c=d'));
    assert.equal(statusOf(redirect), 308);
    assert.match(redirect, new RegExp(`Location: https://www\\.secure\\.test:${httpsPort}/a/b\\?c=d\r\n`));
    assert.equal(statusOf(await exchange(httpPort, get('www.plain.test'))), 404);
  });
});

test('node:http keep-alive: many requests share one visitor connection and one target connection', async (t) => {
  const a = await httpTarget(t, 'A');
  const { stack, httpPort } = await startHttpStack(
    t,
    [httpLicense('lab', KEY, [httpMapping('m-a', a.port)])],
    {
      routes: [route('a.example.test', 'lab', 'm-a', a.port)],
      domains: [domain('example.test')],
    },
  );
  await stack.onlineClient(KEY);
  const { Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: httpPort, path: `/k${i}`, headers: { host: 'a.example.test' }, agent },
        (res) => {
          ports.add(res.socket.localPort ?? 0);
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c;
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, `A GET /k${i}`);
  }
  assert.equal(ports.size, 1, 'one visitor connection');
  assert.equal(new Set(a.seen.map((s) => s.socketPort)).size, 1, 'one connection to the target');
});

test("the tunnel carries the visitor's own address and the shared port in CONNECT", async (t) => {
  // Seen through a PROXY protocol header, which the client writes from CONNECT's fields.
  let header = '';
  const target = await listenLocal((socket) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      header = text.slice(0, text.indexOf('\r\n') + 2);
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  t.after(() => target.close());
  const { stack, httpPort } = await startHttpStack(
    t,
    [httpLicense('lab', KEY, [httpMapping('m', target.port, { proxyProtocol: 'v1' })])],
    { routes: [route('p.example.test', 'lab', 'm', target.port)], domains: [domain('example.test')] },
  );
  await stack.onlineClient(KEY);
  const connection = await open(httpPort);
  const visitorPort = connection.socket.localPort;
  connection.socket.write(get('p.example.test'));
  assert.equal(statusOf(await connection.closed()), 200);
  assert.equal(header, `PROXY TCP4 127.0.0.1 127.0.0.1 ${visitorPort} ${httpPort}\r\n`);
});
