// The router's pure parts: Host values and host name patterns, which domain and route a name
// finds (exact before wildcard, one label only, longest domain), the decision for a request, the
// head the target receives, the pages the router writes, and the basic-auth check with its
// memory of successes and its limit on failures.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BasicAuth } from '../../src/http/basic-auth.ts';
import { forwardedHead } from '../../src/http/forwarded-head.ts';
import {
  baseDomainOf,
  certificateCovers,
  isHostnamePattern,
  parseHostHeader,
} from '../../src/http/host-names.ts';
import { errorPage, redirectToHttps } from '../../src/http/local-responses.ts';
import { parseRequestHead } from '../../src/http/request-head.ts';
import { decide } from '../../src/http/route-decision.ts';
import { RouteTable } from '../../src/http/route-table.ts';
import { domain, route } from '../support/http.ts';

const head = (text: string) => parseRequestHead(Buffer.from(text, 'latin1'));

describe('host names', () => {
  test('Host values are lower-cased and split; absurd ones are refused', () => {
    assert.deepEqual(parseHostHeader('App.Example.COM.'), { name: 'app.example.com', port: undefined });
    assert.deepEqual(parseHostHeader('app.example.com:8080'), { name: 'app.example.com', port: 8080 });
    assert.deepEqual(parseHostHeader('[::1]:443'), { name: '[::1]', port: 443 });
    assert.deepEqual(parseHostHeader('10.0.0.1'), { name: '10.0.0.1', port: undefined });
    for (const bad of [
      '',
      'a b',
      'a..b',
      'user@a',
      'a/b',
      'a:0',
      'a:65536',
      'a:',
      '[nope]',
      `${'a'.repeat(64)}.com`,
      'a,b',
    ]) {
      assert.equal(parseHostHeader(bad), undefined, bad);
    }
  });

  test('mapping host names are exact names or one-label wildcards', () => {
    for (const good of ['app.example.com', '*.app.example.com', 'a-b.example.com'])
      assert.ok(isHostnamePattern(good), good);
    for (const bad of [
      '*',
      '*.com.',
      'a.*.example.com',
      '**.example.com',
      'example',
      '-a.example.com',
      'a_b.example.com',
    ])
      assert.ok(!isHostnamePattern(bad), bad);
  });

  test('a name finds its longest registered domain', () => {
    const bases = new Map([
      ['example.com', 'outer'],
      ['team.example.com', 'inner'],
    ]);
    assert.equal(baseDomainOf('x.team.example.com', bases), 'inner');
    assert.equal(baseDomainOf('team.example.com', bases), 'inner');
    assert.equal(baseDomainOf('*.team.example.com', bases), 'inner');
    assert.equal(baseDomainOf('www.example.com', bases), 'outer');
    assert.equal(baseDomainOf('example.org', bases), undefined);
    assert.equal(baseDomainOf('notexample.com', bases), undefined);
  });

  test('a certificate covers exact names and one label under its wildcards', () => {
    const names = ['example.com', '*.example.com'];
    assert.ok(certificateCovers(names, 'example.com'));
    assert.ok(certificateCovers(names, 'www.example.com'));
    assert.ok(!certificateCovers(names, 'a.b.example.com'));
    assert.ok(certificateCovers(names, '*.example.com'));
    assert.ok(!certificateCovers(names, '*.b.example.com'));
  });
});

describe('routes and decisions', () => {
  const table = new RouteTable({
    routes: [
      route('app.example.test', 'l', 'exact', 1),
      route('*.example.test', 'l', 'wild', 2),
      route('app.example.test', 'l', 'secure', 3, { protocol: 'https' }),
    ],
    domains: [domain('example.test', { forceHttps: false }), domain('secure.test', { forceHttps: true })],
  });

  test('exact names win over wildcards, a wildcard covers one label, each protocol has its own', () => {
    assert.equal(table.route('http', 'app.example.test')?.mappingId, 'exact');
    assert.equal(table.route('http', 'other.example.test')?.mappingId, 'wild');
    assert.equal(table.route('http', 'a.b.example.test'), undefined);
    assert.equal(table.route('http', 'example.test'), undefined);
    assert.equal(table.route('https', 'app.example.test')?.mappingId, 'secure');
    assert.equal(table.route('https', 'other.example.test'), undefined);
  });

  test('a request is routed, redirected, misdirected or unknown', () => {
    const http = { protocol: 'http' as const, serverName: undefined, httpsPort: 8443 };
    const get = (host: string) => head(`GET /p?q HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.equal(decide(get('app.example.test'), table, http).kind, 'route');
    const redirect = decide(get('www.secure.test'), table, http);
    assert.ok(redirect.kind === 'redirect');
    assert.match(
      redirect.response.toString(),
      /^HTTP\/1\.1 308 Permanent Redirect\r\n[\s\S]*Location: https:\/\/www\.secure\.test:8443\/p\?q\r\n/,
    );
    assert.deepEqual(decide(get('www.secure.test'), table, { ...http, httpsPort: undefined }), {
      kind: 'refuse',
      code: 'MUON_ERR_HOST_UNKNOWN',
    });
    const https = { protocol: 'https' as const, serverName: 'app.example.test', httpsPort: 8443 };
    assert.equal(decide(get('APP.example.test:8443'), table, https).kind, 'route');
    assert.deepEqual(decide(get('other.example.test'), table, https), {
      kind: 'refuse',
      code: 'MUON_ERR_MISDIRECTED',
    });
  });
});

describe('what the target and the visitor receive', () => {
  const request = head(
    'POST /x HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-For: 6.6.6.6\r\nforwarded: for=x\r\n' +
      'Authorization: Basic YTpi\r\nContent-Length: 0\r\n\r\n',
  );

  test('the forwarded head replaces what the visitor could forge', () => {
    const out = forwardedHead(
      request,
      route('app.example.test', 'l', 'm', 8080, {
        rewriteHost: true,
        basicAuth: { username: 'a', passwordHash: 'h' },
      }),
      {
        remoteAddress: '::ffff:192.0.2.7',
        secure: true,
      },
    );
    assert.equal(
      out.toString('latin1'),
      'POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n' +
        'X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.example.test\r\n\r\n',
    );
    const untouched = forwardedHead(
      request,
      route('app.example.test', 'l', 'm', 8080, { addForwardedHeaders: false }),
      {
        remoteAddress: '2001:db8::1',
        secure: false,
      },
    );
    assert.match(
      untouched.toString(),
      /X-Forwarded-For: 6\.6\.6\.6\r\nforwarded: for=x\r\nAuthorization: Basic YTpi\r\n/,
    );
  });

  test('pages are complete responses that close, show the code, and have no body for HEAD', () => {
    const page = errorPage('MUON_ERR_NO_CLIENT', 'GET').toString();
    const [headText = '', body = ''] = page.split('\r\n\r\n');
    assert.match(headText, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(headText, /\r\nConnection: close/);
    assert.match(headText, /\r\nX-Muon-Error: MUON_ERR_NO_CLIENT/);
    assert.equal(Number(/Content-Length: (\d+)/.exec(headText)?.[1]), Buffer.byteLength(body));
    assert.match(body, /<code>MUON_ERR_NO_CLIENT<\/code>/);
    assert.ok(errorPage('MUON_ERR_HOST_UNKNOWN', 'HEAD').toString().endsWith('\r\n\r\n'));
    assert.match(
      redirectToHttps('GET', 'a.test', 443, 'http://a.test').toString(),
      /Location: https:\/\/a\.test\/\r\n/,
    );
  });
});

describe('basic auth', () => {
  const expected = { username: 'ali', passwordHash: 'hash-1' };
  const header = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  function auth(now = () => 0) {
    const calls: string[] = [];
    const basic = new BasicAuth({
      verify: async (hash, password) => {
        calls.push(password);
        return hash === 'hash-1' && password === 'sesame';
      },
      maxFailuresPerMinute: 3,
      rememberMs: 1000,
      now,
    });
    return { basic, calls };
  }

  test('no or unreadable credentials are missing; the name and the password must both match', async () => {
    const { basic } = auth();
    assert.equal(basic.check('m', expected, undefined, 'r'), 'missing');
    assert.equal(basic.check('m', expected, 'Bearer x', 'r'), 'missing');
    assert.equal(basic.check('m', expected, 'Basic !!!', 'r'), 'missing');
    assert.equal(await basic.check('m', expected, header('bob', 'sesame'), 'r'), 'wrong');
    assert.equal(await basic.check('m', expected, header('ali', 'nope'), 'r2'), 'wrong');
    assert.equal(await basic.check('m', expected, header('ali', 'sesame'), 'r3'), 'ok');
  });

  test('a success is remembered for a while, concurrent checks share one verification', async () => {
    let time = 0;
    const { basic, calls } = auth(() => time);
    const good = header('ali', 'sesame');
    const [a, b] = await Promise.all([
      basic.check('m', expected, good, 'r'),
      basic.check('m', expected, good, 'r'),
    ]);
    assert.deepEqual([a, b, calls.length], ['ok', 'ok', 1]);
    assert.equal(basic.check('m', expected, good, 'r'), 'ok', 'answered at once from memory');
    assert.equal(
      basic.check('m', { ...expected, passwordHash: 'hash-2' }, good, 'r') instanceof Promise,
      true,
      'a new hash checks again',
    );
    time = 1001;
    assert.equal(basic.check('m', expected, good, 'r') instanceof Promise, true, 'forgotten after the while');
  });

  test('an address that keeps failing is limited for the minute', async () => {
    let time = 0;
    const { basic, calls } = auth(() => time);
    for (let i = 0; i < 3; i++)
      assert.equal(await basic.check('m', expected, header('ali', `x${i}`), 'bad'), 'wrong');
    assert.equal(basic.check('m', expected, header('ali', 'sesame'), 'bad'), 'limited');
    assert.equal(calls.length, 3, 'no verification while limited');
    assert.equal(await basic.check('m', expected, header('ali', 'sesame'), 'good'), 'ok', 'others are not');
    time = 60_001;
    assert.equal(await basic.check('m', expected, header('ali', 'sesame'), 'bad'), 'ok');
  });
});
