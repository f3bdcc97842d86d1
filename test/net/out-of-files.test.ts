// Recognising lack of file descriptors, reading the open-file limit, the rate-limited warning,
// and a listener that survives failed accepts.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MuonError } from '../../src/errors.ts';
import { surviveAcceptErrors } from '../../src/net/accept-errors.ts';
import {
  descriptorTableFull,
  isOutOfFiles,
  openFileLimit,
  parseSoftFileLimit,
  warnOutOfFiles,
} from '../../src/net/out-of-files.ts';
import { dial } from '../support/net.ts';
import { LogCapture } from '../support/stack.ts';

function errno(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
}

interface Line {
  level: number;
  code?: string;
  limit?: unknown;
  suppressed?: number;
  msg: string;
  [field: string]: unknown;
}

function parsed(capture: LogCapture): Line[] {
  return capture.lines.map((l) => JSON.parse(l) as Line);
}

test('EMFILE, ENFILE and MUON_ERR_OUT_OF_FILES are out of files; other errors are not', () => {
  assert.equal(isOutOfFiles(errno('EMFILE')), true);
  assert.equal(isOutOfFiles(errno('ENFILE', 'accept')), true);
  assert.equal(isOutOfFiles(new MuonError('MUON_ERR_OUT_OF_FILES')), true);
  assert.equal(isOutOfFiles(errno('ECONNREFUSED')), false);
  assert.equal(isOutOfFiles(new MuonError('MUON_ERR_TARGET_UNREACHABLE')), false);
  assert.equal(isOutOfFiles(new Error('EMFILE')), false, 'the code decides, not the message');
  assert.equal(isOutOfFiles(undefined), false);
  assert.equal(isOutOfFiles('EMFILE'), false);
});

test('the soft open-file limit is read from /proc/self/limits text', () => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             96365                96365                processes ',
    'Max open files            1024                 524288               files     ',
    '',
  ].join('\n');
  assert.equal(parseSoftFileLimit(limits), 1024);
  assert.equal(parseSoftFileLimit(limits.replace('1024 ', 'unlimited')), 'unlimited');
  assert.equal(parseSoftFileLimit('Max processes 10 10 processes\n'), 'unknown');
  assert.equal(parseSoftFileLimit(''), 'unknown');
  // This process's own, read once at load (Linux).
  const own = openFileLimit();
  assert.ok(own === 'unknown' || own === 'unlimited' || own > 0, String(own));
});

test('the descriptor table is not full in a test process', () => {
  assert.equal(descriptorTableFull(), false);
});

test('the warning names the code and the limit, and lets one line a second through with a count', async () => {
  const capture = new LogCapture();
  for (let i = 0; i < 5; i++) warnOutOfFiles(capture.logger, 'cannot dial', { port: 80 });
  await sleep(1050);
  warnOutOfFiles(capture.logger, 'cannot dial again');
  const lines = parsed(capture);
  assert.equal(lines.length, 2, capture.text());
  const [first, second] = lines as [Line, Line];
  assert.equal(first.level, 40);
  assert.equal(first.code, 'MUON_ERR_OUT_OF_FILES');
  assert.equal(first.limit, openFileLimit());
  assert.equal(first.port, 80);
  assert.equal(first.suppressed, 0);
  assert.equal(first.msg, `out of file descriptors (open-file limit ${openFileLimit()}): cannot dial`);
  assert.equal(second.suppressed, 4, 'the four held back');
});

test('a listener that fails to accept logs it, keeps listening, and the process survives', async (t) => {
  const capture = new LogCapture();
  const server = createServer((socket) => socket.end('hello'));
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  surviveAcceptErrors(server, capture.logger, 'the test port');
  // What Node emits when accept() fails (libuv passes EMFILE on when its reserve descriptor is gone).
  await sleep(1050); // past any warning the test before let through
  server.emit('error', errno('EMFILE', 'accept'));
  server.emit('error', errno('ENOBUFS', 'accept'));
  server.emit('error', errno('ENOBUFS', 'accept'));
  const lines = parsed(capture);
  assert.deepEqual(
    lines.map((l) => [l.level, l.code, l.listener]),
    [
      [40, 'MUON_ERR_OUT_OF_FILES', 'the test port'],
      [50, 'MUON_ERR_INTERNAL', 'the test port'],
    ],
    capture.text(),
  );
  assert.equal(server.listening, true);
  const socket = await dial((server.address() as AddressInfo).port);
  const [greeting] = (await once(socket, 'data')) as [Buffer];
  assert.equal(greeting.toString(), 'hello');
  socket.destroy();
});
