// The request reader as the router relies on it: pipelined requests come out as head, body, end
// in order however the bytes are cut (at every offset, byte by byte, in random pieces), bodies
// byte-exact; and every smuggling or malformed shape is refused with its status and stable code,
// wherever it is split. Generated requests round-trip; garbage yields only HttpError.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../src/http/http-error.ts';
import { RequestReader } from '../../src/http/request-reader.ts';

interface Seen {
  method: string;
  target: string;
  host: string;
  port: number | undefined;
  body: string;
  framing: string;
  keepAlive: boolean;
  upgrade: boolean;
  fields: [string, string][];
}

/** Feeds `chunks` one after another and collects every complete request. */
function readRequests(chunks: readonly Buffer[]): Seen[] {
  const reader = new RequestReader();
  const seen: Seen[] = [];
  let current: Seen | undefined;
  const bodies: Buffer[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let event = reader.next(); event; event = reader.next()) {
      if (event.kind === 'head') {
        const { head } = event;
        current = {
          method: head.method,
          target: head.target,
          host: head.host.name,
          port: head.host.port,
          body: '',
          framing: head.body.kind,
          keepAlive: head.keepAlive,
          upgrade: head.upgrade,
          fields: head.fields,
        };
      } else if (event.kind === 'body') {
        bodies.push(Buffer.from(event.data));
      } else {
        assert.ok(current, 'end after a head');
        current.body = Buffer.concat(bodies.splice(0)).toString('latin1');
        seen.push(current);
        current = undefined;
      }
    }
  }
  return seen;
}

function cut(stream: Buffer, offsets: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const at of offsets) {
    pieces.push(stream.subarray(from, at));
    from = at;
  }
  pieces.push(stream.subarray(from));
  return pieces;
}

function bytewise(stream: Buffer): Buffer[] {
  return Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
}

const PIPELINE = Buffer.from(
  [
    'GET / HTTP/1.1\r\nHost: app.example.test\r\n\r\n',
    'POST /upload?x=1 HTTP/1.1\r\nHost: App.Example.Test:8080\r\nContent-Length: 11\r\n\r\nhello world',
    'PUT /chunked HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5\r\nhello\r\n6;name="v"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n',
    '\r\nGET /ws HTTP/1.1\r\nHost: [::1]:9000\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n',
    'GET /old HTTP/1.0\r\nHost: app.example.test\r\nX-Bytes: caf\xe9\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n',
  ].join(''),
  'latin1',
);

describe('a pipeline of requests', () => {
  const expected = readRequests([PIPELINE]);

  test('reads every request with its framing, host and connection options', () => {
    assert.deepEqual(
      expected.map((r) => [r.method, r.target, r.host, r.port, r.framing, r.body, r.keepAlive, r.upgrade]),
      [
        ['GET', '/', 'app.example.test', undefined, 'none', '', true, false],
        ['POST', '/upload?x=1', 'app.example.test', 8080, 'length', 'hello world', true, false],
        [
          'PUT',
          '/chunked',
          'app.example.test',
          undefined,
          'chunked',
          '5\r\nhello\r\n6;name="v"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n',
          true,
          false,
        ],
        ['GET', '/ws', '[::1]', 9000, 'none', '', true, true],
        ['GET', '/old', 'app.example.test', undefined, 'none', '', false, false],
        ['OPTIONS', '*', 'app.example.test', undefined, 'none', '', false, false],
      ],
    );
    assert.deepEqual(expected[4]?.fields, [
      ['Host', 'app.example.test'],
      ['X-Bytes', 'caf\xe9'],
    ]);
  });

  test('reads the same when split in two at every byte offset', () => {
    for (let at = 0; at <= PIPELINE.length; at++) {
      assert.deepEqual(readRequests(cut(PIPELINE, [at])), expected, `split at ${at}`);
    }
  });

  test('reads the same when fed one byte at a time', () => {
    assert.deepEqual(readRequests(bytewise(PIPELINE)), expected);
  });

  test('reads the same when split in three at nearby offsets', () => {
    for (let first = 0; first <= PIPELINE.length; first += 7) {
      for (let second = first; second <= Math.min(PIPELINE.length, first + 20); second++) {
        assert.deepEqual(readRequests(cut(PIPELINE, [first, second])), expected, `${first}, ${second}`);
      }
    }
  });

  test('returns body bytes as views of what was received, never copies', () => {
    const reader = new RequestReader();
    const chunk = Buffer.from('POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\nbody');
    reader.push(chunk);
    assert.equal(reader.next()?.kind, 'head');
    const body = reader.next();
    assert.ok(body?.kind === 'body');
    assert.equal(body.data.buffer, chunk.buffer);
    assert.equal(reader.next()?.kind, 'end');
    assert.equal(reader.idle, true);
  });
});

/** [name, request, status]: each must be refused, however it is split. */
const REFUSED: [string, string, number, string?][] = [
  [
    'Content-Length with Transfer-Encoding',
    'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
  ],
  [
    'two different Content-Lengths',
    'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
    400,
  ],
  [
    'a Content-Length list that disagrees',
    'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5, 6\r\n\r\n',
    400,
  ],
  ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5\r\n\r\n', 400],
  [
    'a coding other than chunked',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    501,
  ],
  [
    'chunked twice',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    501,
  ],
  [
    'Transfer-Encoding in HTTP/1.0',
    'POST / HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
  ],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: a.test\r\nX-Long: one\r\n two\r\n\r\n', 400],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length : 5\r\n\r\n', 400],
  ['a bare LF', 'GET / HTTP/1.1\nHost: a.test\n\n', 400],
  ['a bare CR', 'GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n', 400],
  ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x00b\r\n\r\n', 400],
  ['no Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n', 400],
  ['a Host with a path', 'GET / HTTP/1.1\r\nHost: a.test/evil\r\n\r\n', 400],
  ['a Host with user info', 'GET / HTTP/1.1\r\nHost: user@a.test\r\n\r\n', 400],
  ['a Host with a bad port', 'GET / HTTP/1.1\r\nHost: a.test:99999\r\n\r\n', 400],
  ['an absurdly long Host', `GET / HTTP/1.1\r\nHost: ${'a'.repeat(300)}.test\r\n\r\n`, 400],
  ['an absolute target for another host', 'GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
  ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a.test\r\n\r\n', 505],
  ['no version', 'GET /\r\nHost: a.test\r\n\r\n', 400],
  ['CONNECT', 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n', 405],
  [
    'a bad chunk size',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n',
    400,
  ],
  [
    'a chunk size with a space',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
    400,
  ],
  [
    'a huge chunk size',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n',
    400,
  ],
  [
    'chunk data longer than its size',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n',
    400,
  ],
  [
    'a bare LF after a chunk',
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n',
    400,
  ],
  [
    'a head above 32 KiB',
    `GET / HTTP/1.1\r\nHost: a.test\r\nX: ${'x'.repeat(33 * 1024)}\r\n\r\n`,
    431,
    'MUON_ERR_HTTP_HEAD_TOO_LARGE',
  ],
  [
    '101 header fields',
    `GET / HTTP/1.1\r\nHost: a.test\r\n${'X: y\r\n'.repeat(100)}\r\n`,
    431,
    'MUON_ERR_HTTP_HEAD_TOO_LARGE',
  ],
  ['endless empty lines', '\r\n'.repeat(17 * 1024), 431, 'MUON_ERR_HTTP_HEAD_TOO_LARGE'],
];

function refusal(chunks: readonly Buffer[]): HttpError | undefined {
  try {
    readRequests(chunks);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof HttpError, `not an HttpError: ${String(error)}`);
    return error;
  }
}

describe('refused requests', () => {
  for (const [name, text, status, code = 'MUON_ERR_HTTP_MALFORMED'] of REFUSED) {
    test(`${name}: ${status} ${code}, however it is split`, () => {
      const stream = Buffer.from(text, 'latin1');
      const whole = refusal([stream]);
      assert.equal(whole?.status, status, `${name}: ${whole?.message}`);
      assert.equal(whole?.code, code);
      const step = stream.length > 2000 ? 97 : 1;
      for (let at = 0; at <= stream.length; at += step) {
        assert.equal(refusal(cut(stream, [at]))?.status, status, `split at ${at}`);
      }
    });
  }

  test('a request after a good one is refused after the good one was read', () => {
    const reader = new RequestReader();
    reader.push(
      Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\nHost: b\r\n\r\n'),
    );
    assert.equal(reader.next()?.kind, 'head');
    assert.equal(reader.next()?.kind, 'end');
    assert.throws(() => reader.next(), HttpError);
  });
});

describe('generated requests', () => {
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
  const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
    path: fc.stringMatching(/^\/[!-~]{0,40}$/),
    fields: fc.array(fc.tuple(token, value), { maxLength: 8 }),
    body: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    chunked: fc.boolean(),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
  });
  type GeneratedRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;
  const reserved = /^(host|content-length|transfer-encoding|connection|upgrade)$/i;

  function encode(r: GeneratedRequest): Buffer {
    const fields = r.fields.filter(([n]) => !reserved.test(n));
    const lines = [
      `${r.method} ${r.path} HTTP/1.1`,
      'Host: gen.example.test',
      ...fields.map(([n, v]) => `${n}: ${v}`),
    ];
    if (!r.chunked) {
      lines.push(`Content-Length: ${r.body.length}`);
      return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), r.body]);
    }
    lines.push('Transfer-Encoding: chunked');
    const parts = [Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')];
    let at = 0;
    for (const size of r.chunkSizes) {
      if (at >= r.body.length) break;
      const piece = r.body.subarray(at, at + size);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
      at += piece.length;
    }
    if (at < r.body.length) {
      const rest = r.body.subarray(at);
      parts.push(Buffer.from(`${rest.length.toString(16)}\r\n`), rest, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    return Buffer.concat(parts);
  }

  test('any pipeline, cut anywhere, reads back to its heads and bodies', () => {
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (requests, cuts) => {
          const stream = Buffer.concat(requests.map(encode));
          const offsets = cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b);
          const seen = readRequests(cut(stream, offsets));
          assert.equal(seen.length, requests.length);
          seen.forEach((s, i) => {
            const r = requests[i] as (typeof requests)[number];
            assert.equal(s.method, r.method);
            assert.equal(s.target, r.path);
            if (!r.chunked) assert.equal(s.body, r.body.toString('latin1'));
          });
        },
      ),
      { numRuns: 300, interruptAfterTimeLimit: 3000 },
    );
  });

  test('garbage, alone or after a good request, yields only HttpError', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(s, 'latin1')),
    );
    fc.assert(
      fc.property(garbage, fc.boolean(), fc.nat(), (junk, afterGood, at) => {
        const prefix = afterGood ? Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n') : Buffer.alloc(0);
        const stream = Buffer.concat([prefix, junk]);
        try {
          readRequests(cut(stream, [at % (stream.length + 1)]));
        } catch (error) {
          assert.ok(error instanceof HttpError, String(error));
        }
      }),
      { numRuns: 2000, interruptAfterTimeLimit: 3000 },
    );
  });
});
