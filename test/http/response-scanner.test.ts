// The response scanner tells the router when each forwarded request has been answered, without
// holding a byte: Content-Length, chunked, HEAD, 1xx, 204/304 and close-delimited responses end
// where RFC 9112 says, however the bytes are cut; a 101 answering an upgrade switches to raw
// bytes; a response that is not HTTP, or that nothing asked for, is a 502 (MUON_ERR_BAD_RESPONSE).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../src/http/http-error.ts';
import { ResponseScanner, type SentRequest } from '../../src/http/response-scanner.ts';

/** Scans `chunks` after sending `requests`; returns the statuses completed, in order. */
function scan(requests: SentRequest[], chunks: readonly Buffer[], ended = false): (number | string)[] {
  const done: (number | string)[] = [];
  const scanner = new ResponseScanner({
    responseComplete: (status, upgraded) => done.push(upgraded ? `${status} upgraded` : status),
  });
  for (const r of requests) scanner.expect(r);
  for (const chunk of chunks) scanner.scan(chunk);
  if (ended && !scanner.end()) done.push('cut short');
  return done;
}

const get = { method: 'GET', upgrade: false };
const head = { method: 'HEAD', upgrade: false };

const CASES: {
  name: string;
  requests: SentRequest[];
  stream: string;
  ended?: boolean;
  expected: (number | string)[];
}[] = [
  {
    name: 'keep-alive responses with a length, chunked and empty',
    requests: [get, get, get, get],
    stream:
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n' +
      'HTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    expected: [200, 200, 204, 404],
  },
  {
    name: 'a HEAD response with a length but no body',
    requests: [head, get],
    stream:
      'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n',
    expected: [200, 304],
  },
  {
    name: 'interim 100 and 103 before the final response',
    requests: [{ method: 'POST', upgrade: false }],
    stream:
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    expected: [201],
  },
  {
    name: 'a 101 to an upgrade request, then raw bytes',
    requests: [{ method: 'GET', upgrade: true }],
    stream: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello HTTP/1.1 200 OK\r\n',
    expected: ['101 upgraded'],
  },
  {
    name: 'a refused upgrade stays HTTP',
    requests: [{ method: 'GET', upgrade: true }, get],
    stream:
      'HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno!HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    expected: [400, 200],
  },
  {
    name: 'a body delimited by the close',
    requests: [get],
    stream: 'HTTP/1.0 200 OK\r\n\r\nuntil the end',
    ended: true,
    expected: [200],
  },
  {
    name: 'Transfer-Encoding overrides Content-Length',
    requests: [get],
    stream: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    expected: [200],
  },
  {
    name: 'a response cut short by the close',
    requests: [get],
    stream: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
    ended: true,
    expected: ['cut short'],
  },
];

function cut(stream: Buffer, at: number): Buffer[] {
  return [stream.subarray(0, at), stream.subarray(at)];
}

describe('responses end where RFC 9112 says', () => {
  for (const c of CASES) {
    test(`${c.name}, split at every byte offset`, () => {
      const stream = Buffer.from(c.stream, 'latin1');
      assert.deepEqual(scan(c.requests, [stream], c.ended), c.expected);
      for (let at = 0; at <= stream.length; at++) {
        assert.deepEqual(scan(c.requests, cut(stream, at), c.ended), c.expected, `split at ${at}`);
      }
      const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
      assert.deepEqual(scan(c.requests, bytes, c.ended), c.expected, 'byte by byte');
    });
  }

  test('the scanner says when a response has begun and how many are outstanding', () => {
    const scanner = new ResponseScanner({ responseComplete: () => {} });
    scanner.expect(get);
    scanner.expect(get);
    assert.equal(scanner.outstanding, 2);
    assert.equal(scanner.answering, false);
    scanner.scan(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no'));
    assert.equal(scanner.answering, true);
    scanner.scan(Buffer.from('k'));
    assert.equal(scanner.outstanding, 1);
    assert.equal(scanner.answering, false);
    assert.equal(scanner.end(), true, 'a close between responses is clean');
  });
});

describe('bad responses are 502 MUON_ERR_BAD_RESPONSE', () => {
  const bad: [string, SentRequest[], string][] = [
    ['not HTTP', [get], 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['a response nobody asked for', [], 'HTTP/1.1 408 Request Timeout\r\n\r\n'],
    ['a 101 without an upgrade request', [get], 'HTTP/1.1 101 Switching Protocols\r\n\r\n'],
    ['conflicting lengths', [get], 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['a bare LF', [get], 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['bad chunking', [get], 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ];
  for (const [name, requests, stream] of bad) {
    test(name, () => {
      assert.throws(
        () => scan(requests, [Buffer.from(stream, 'latin1')]),
        (error: unknown) =>
          error instanceof HttpError && error.status === 502 && error.code === 'MUON_ERR_BAD_RESPONSE',
      );
    });
  }

  test('garbage yields only HttpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          scan([get, head], [Buffer.from(bytes)]);
        } catch (error) {
          assert.ok(error instanceof HttpError && error.status === 502, String(error));
        }
      }),
      { numRuns: 2000, interruptAfterTimeLimit: 2000 },
    );
  });
});
