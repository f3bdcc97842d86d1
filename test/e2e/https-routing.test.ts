// The shared HTTPS port: TLS ends at the server with the certificate of the domain the visitor
// names (SNI, verified against the test CA), requests go to the https mapping of that name, a
// Host other than the server name is 421, an unknown name gets no handshake, a replaced
// certificate is served to the next connection, and 100 MB travel each way byte-exact.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:https';
import type { TestContext } from 'node:test';
import { describe, test } from 'node:test';
import { type PeerCertificate, connect as tlsConnect } from 'node:tls';
import { makeCertificate, type TestCertificate } from '../support/certs.ts';
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
import { KEY } from '../support/stack.ts';

async function twoDomains(t: TestContext) {
  const [example, other] = await Promise.all([
    makeCertificate(['example.test', '*.example.test']),
    makeCertificate(['api.other.test']),
  ]);
  const [a, c] = await Promise.all([httpTarget(t, 'A'), httpTarget(t, 'C')]);
  const https = { protocol: 'https' as const };
  const http = await startHttpStack(
    t,
    [
      httpLicense('lab', KEY, [
        httpMapping('m-a', a.port, https),
        httpMapping('m-c', c.port, https),
        httpMapping('m-plain', a.port),
      ]),
    ],
    {
      routes: [
        route('app.example.test', 'lab', 'm-a', a.port, https),
        route('api.other.test', 'lab', 'm-c', c.port, https),
        route('plain.example.test', 'lab', 'm-plain', a.port),
      ],
      domains: [domain('example.test', { tls: example }), domain('other.test', { tls: other })],
    },
  );
  await http.stack.onlineClient(KEY);
  return { ...http, example, other, a, c };
}

/** Opens TLS to the router with `servername`, verifying against `ca`; returns the peer certificate. */
async function handshake(port: number, servername: string, ca: string): Promise<PeerCertificate> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca });
  await once(socket, 'secureConnect');
  const peer = socket.getPeerCertificate();
  socket.destroy();
  return peer;
}

const get = (host: string, path = '/') =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

describe('routing by SNI and Host', () => {
  test('each server name gets its domain certificate and its mapping', async (t) => {
    const { httpsPort, example, other } = await twoDomains(t);
    assert.equal((await handshake(httpsPort, 'app.example.test', example.ca)).subject.CN, 'example.test');
    assert.equal((await handshake(httpsPort, 'api.other.test', other.ca)).subject.CN, 'api.other.test');

    const app = await exchange(httpsPort, get('app.example.test', '/x'), {
      servername: 'app.example.test',
      ca: example.ca,
    });
    assert.equal(statusOf(app), 200);
    assert.match(app, /A GET \/x$/);
    const api = await exchange(httpsPort, get('api.other.test:443', '/y'), {
      servername: 'api.other.test',
      ca: other.ca,
    });
    assert.match(api, /C GET \/y$/);
  });

  test('a Host other than the server name is 421; an http mapping is not served on HTTPS', async (t) => {
    const { httpsPort, httpPort, example } = await twoDomains(t);
    const fronted = await exchange(httpsPort, get('api.other.test'), {
      servername: 'app.example.test',
      ca: example.ca,
    });
    assert.equal(statusOf(fronted), 421);
    assert.match(fronted, /MUON_ERR_MISDIRECTED/);
    const plainOnTls = await exchange(httpsPort, get('plain.example.test'), {
      servername: 'plain.example.test',
      ca: example.ca,
    });
    assert.equal(statusOf(plainOnTls), 404);
    assert.equal(
      statusOf(await exchange(httpPort, get('app.example.test'))),
      404,
      'nor an https one on HTTP',
    );
  });

  test('a server name under no domain with a certificate gets no handshake', async (t) => {
    const { httpsPort, example } = await twoDomains(t);
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: httpsPort,
      servername: 'nobody.test',
      ca: example.ca,
    });
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.match(String(error.code), /ERR_SSL/);
  });

  test('a replaced certificate is served to the next connection', async (t) => {
    const { httpsPort, directory, example, other, a, c } = await twoDomains(t);
    const renewed: TestCertificate = await makeCertificate([
      'example.test',
      '*.example.test',
      'renewed.example.test',
    ]);
    const before = await handshake(httpsPort, 'app.example.test', example.ca);
    directory.set({
      routes: [
        route('app.example.test', 'lab', 'm-a', a.port, { protocol: 'https' }),
        route('api.other.test', 'lab', 'm-c', c.port, { protocol: 'https' }),
      ],
      domains: [domain('example.test', { tls: renewed }), domain('other.test', { tls: other })],
    });
    let after = before;
    for (let i = 0; i < 100 && after.fingerprint256 === before.fingerprint256; i++) {
      await new Promise((r) => setTimeout(r, 10));
      after = await handshake(httpsPort, 'app.example.test', renewed.ca);
    }
    assert.notEqual(after.fingerprint256, before.fingerprint256);
    assert.match(after.subjectaltname ?? '', /renewed\.example\.test/);
  });
});

test('100 MB up and 100 MB down over HTTPS arrive byte-exact', async (t) => {
  const SIZE = 100 * 1024 * 1024;
  const certificate = await makeCertificate(['big.example.test']);
  const source = randomBytes(1024 * 1024);
  const downloadHash = createHash('sha256');
  for (let i = 0; i < SIZE / source.length; i++) downloadHash.update(source);
  const target = await httpTarget(t, 'big', (req, res) => {
    if (req.method === 'POST') {
      res.end('stored');
      return;
    }
    res.writeHead(200, { 'content-length': SIZE });
    let sent = 0;
    const pump = () => {
      while (sent < SIZE) {
        sent += source.length;
        if (!res.write(source)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const { stack, httpsPort } = await startHttpStack(
    t,
    [httpLicense('lab', KEY, [httpMapping('big', target.port, { protocol: 'https' })])],
    {
      routes: [
        route('big.example.test', 'lab', 'big', target.port, {
          protocol: 'https',
          addForwardedHeaders: false,
        }),
      ],
      domains: [domain('example.test', { tls: certificate })],
    },
  );
  await stack.onlineClient(KEY);
  const options = {
    host: '127.0.0.1',
    port: httpsPort,
    servername: 'big.example.test',
    ca: certificate.ca,
    headers: { host: 'big.example.test' },
  };

  const started = performance.now();
  const uploadHash = createHash('sha256');
  const uploaded = await new Promise<number>((resolve, reject) => {
    const req = request(
      { ...options, method: 'POST', path: '/up', headers: { ...options.headers, 'content-length': SIZE } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < SIZE) {
        const piece = randomBytes(256 * 1024);
        uploadHash.update(piece);
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  const upSeconds = (performance.now() - started) / 1000;
  assert.equal(uploaded, 200);
  assert.equal(target.seen[0]?.bytes, SIZE);
  assert.equal(target.seen[0]?.sha256, uploadHash.digest('hex'));

  const downStarted = performance.now();
  const received = createHash('sha256');
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const req = request({ ...options, path: '/down' }, (res) => {
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        received.update(c);
      });
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
  const downSeconds = (performance.now() - downStarted) / 1000;
  assert.equal(bytes, SIZE);
  assert.equal(received.digest('hex'), downloadHash.digest('hex'));
  t.diagnostic(`100 MB up in ${upSeconds.toFixed(2)} s, down in ${downSeconds.toFixed(2)} s`);
});
