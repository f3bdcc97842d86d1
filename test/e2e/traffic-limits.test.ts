// Connection and speed limits on the tunnel: at most maxConnections visitors per mapping and per
// license (the rest closed, with one warning per interval), and upload/download speed limits on
// the aggregate of all connections of a mapping or a license, changed live on open connections.
// Rates are measured on loopback over about two seconds and must be within 15 % of the limit.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LicenseRecord } from '../../src/server/directory.ts';
import { freePort, listenLocal, waitFor } from '../support/net.ts';
import { KEY, type LogCapture, license, startStack } from '../support/stack.ts';

const CHUNK = Buffer.alloc(64 * 1024, 7);

/** Writes as fast as `socket` takes it (honouring backpressure) until it closes. */
function flood(socket: Socket): void {
  socket.on('error', () => {});
  const pump = () => {
    while (!socket.destroyed && socket.writable) {
      if (!socket.write(CHUNK)) return void socket.once('drain', pump);
    }
  };
  pump();
}

/** Opens a visitor connection and resolves once it is known to be served (echo) or closed. */
function open(port: number, t: { after(fn: () => void): void }): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    t.after(() => socket.destroy());
    const timer = setTimeout(() => finish(undefined), 3000);
    const finish = (result: Socket | undefined) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve(result);
    };
    socket.on('error', () => {});
    socket.on('connect', () => socket.write('hi'));
    socket.once('data', () => finish(socket));
    socket.once('close', () => finish(undefined));
  });
}

function logged(log: LogCapture, code: string): Array<Record<string, unknown>> {
  return log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === code);
}

/** Bytes per second that `count()` grew by over `ms`, after `warmUpMs` (which spends the burst). */
async function rateOf(count: () => number, ms = 2000, warmUpMs = 300): Promise<number> {
  await sleep(warmUpMs);
  const before = count();
  const start = performance.now();
  await sleep(ms);
  return ((count() - before) * 1000) / (performance.now() - start);
}

function assertNear(actual: number, expected: number, what: string): void {
  const ratio = actual / expected;
  assert.ok(ratio > 0.85 && ratio < 1.15, `${what}: ${Math.round(actual)} B/s, expected ${expected} ± 15 %`);
}

const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 20));

describe('connection limits', () => {
  test('a mapping admits maxConnections visitors at once; one more is closed, and one warning covers a flood', async (t) => {
    const echo = await listenLocal((socket) => socket.pipe(socket));
    t.after(() => echo.close());
    const port = await freePort();
    const record = license('lab', KEY, [{ publicPort: port, targetPort: echo.port, maxConnections: 2 }]);
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);

    const first = await open(port, t);
    const second = await open(port, t);
    assert.ok(first && second, 'two visitors are served');
    for (let i = 0; i < 10; i++) assert.equal(await open(port, t), undefined, 'the third is closed');
    assert.equal(echo.sockets.size, 2, 'refused visitors never reached the target');

    const lines = logged(stack.serverLog, 'MUON_ERR_CONNECTION_LIMIT');
    assert.equal(lines.length, 10);
    const warnings = lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, 'one warning per interval, the rest at debug');
    assert.equal(warnings[0]?.mapping, `lab:${port}`);
    assert.equal(warnings[0]?.limit, 2);
    assert.match(String(warnings[0]?.msg), new RegExp(`mapping lab:${port} has its limit of 2 connections`));

    // A visitor that leaves makes room; a raised limit applies to the next visitor.
    first.destroy();
    await waitFor(() => echo.sockets.size === 1, 2000, 'the first visitor to be gone');
    let third: Socket | undefined;
    const deadline = Date.now() + 2000;
    while (!third && Date.now() < deadline) third = await open(port, t);
    assert.ok(third, 'admitted once a place is free');
    assert.equal(await open(port, t), undefined);
    stack.directory.update({
      ...record,
      mappings: record.mappings.map((m) => ({ ...m, maxConnections: 3 })),
    });
    await settle();
    assert.ok(await open(port, t), 'the raised limit admits one more');
    stack.directory.update({
      ...record,
      mappings: record.mappings.map((m) => ({ ...m, maxConnections: null })),
    });
    await settle();
    for (let i = 0; i < 3; i++) assert.ok(await open(port, t), 'unlimited');
  });

  test('a license admits maxConnections visitors over all its mappings', async (t) => {
    const echo = await listenLocal((socket) => socket.pipe(socket));
    t.after(() => echo.close());
    const [a, b] = [await freePort(), await freePort()];
    const record: LicenseRecord = {
      ...license('lab', KEY, [
        { publicPort: a, targetPort: echo.port },
        { publicPort: b, targetPort: echo.port },
      ]),
      maxConnections: 2,
    };
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);
    assert.ok(await open(a, t));
    assert.ok(await open(b, t));
    assert.equal(await open(a, t), undefined);
    assert.equal(await open(b, t), undefined);
    const warning = logged(stack.serverLog, 'MUON_ERR_CONNECTION_LIMIT').find((l) => l.level === 40);
    assert.equal(warning?.licenseId, 'lab');
    assert.equal(warning?.limit, 2);
    assert.match(String(warning?.msg), /license lab has its limit of 2 connections/);
  });
});

describe('speed limits', () => {
  test('download: a mapping limit holds for the aggregate of its connections, shared fairly; the stricter limit wins', async (t) => {
    const target = await listenLocal((socket) => flood(socket));
    t.after(() => target.close());
    const port = await freePort();
    const limit = 2_000_000;
    const stack = await startStack(t, [
      {
        ...license('lab', KEY, [{ publicPort: port, targetPort: target.port, downloadLimit: limit }]),
        downloadLimit: 4 * limit, // looser: the mapping's limit is the one that holds
      },
    ]);
    await stack.onlineClient(KEY);
    const received = [0, 0, 0];
    for (let i = 0; i < received.length; i++) {
      const visitor = connect({ host: '127.0.0.1', port });
      t.after(() => visitor.destroy());
      visitor.on('error', () => {});
      visitor.on('data', (c: Buffer) => {
        received[i] = (received[i] ?? 0) + c.length;
      });
    }
    const before = [...received];
    const rate = await rateOf(() => received.reduce((x, y) => x + y, 0));
    t.diagnostic(`download, 3 connections, limit ${limit} B/s: measured ${Math.round(rate)} B/s`);
    assertNear(rate, limit, 'aggregate download');
    const shares = received.map((n, i) => n - (before[i] ?? 0));
    const total = shares.reduce((x, y) => x + y, 0);
    for (const share of shares) assert.ok(share > total * 0.15, `an unfair share: ${shares.join(', ')}`);
  });

  test('upload: a license limit holds for all connections of all its mappings, under looser mapping limits', async (t) => {
    let received = 0;
    const target = await listenLocal((socket) =>
      socket.on('data', (c: Buffer) => {
        received += c.length;
      }),
    );
    t.after(() => target.close());
    const [a, b] = [await freePort(), await freePort()];
    const limit = 2_000_000;
    const record: LicenseRecord = {
      // The mappings' own limits are looser: the license's is the one that holds.
      ...license('lab', KEY, [
        { publicPort: a, targetPort: target.port, uploadLimit: 8_000_000 },
        { publicPort: b, targetPort: target.port },
      ]),
      uploadLimit: limit,
    };
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);
    for (const port of [a, a, b, b]) {
      const visitor = connect({ host: '127.0.0.1', port }, () => flood(visitor));
      t.after(() => visitor.destroy());
    }
    const rate = await rateOf(() => received);
    t.diagnostic(
      `upload, 4 connections on 2 mappings, license limit ${limit} B/s: measured ${Math.round(rate)} B/s`,
    );
    assertNear(rate, limit, 'aggregate upload');
  });

  test('a limit changed on an open connection applies at once; lifting it frees the connection', async (t) => {
    const target = await listenLocal((socket) => flood(socket));
    t.after(() => target.close());
    const port = await freePort();
    const record = license('lab', KEY, [
      { publicPort: port, targetPort: target.port, downloadLimit: 500_000 },
    ]);
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);
    let received = 0;
    const visitor = connect({ host: '127.0.0.1', port });
    t.after(() => visitor.destroy());
    visitor.on('error', () => {});
    visitor.on('data', (c: Buffer) => {
      received += c.length;
    });
    const withLimit = (downloadLimit: number | null) => {
      stack.directory.update({ ...record, mappings: record.mappings.map((m) => ({ ...m, downloadLimit })) });
    };

    const slow = await rateOf(() => received, 1000, 200);
    withLimit(2_000_000);
    const fast = await rateOf(() => received, 1500, 200);
    t.diagnostic(
      `live change: 500000 B/s measured ${Math.round(slow)}, then 2000000 B/s measured ${Math.round(fast)}`,
    );
    assertNear(slow, 500_000, 'before the change');
    assertNear(fast, 2_000_000, 'after the change');
    withLimit(null);
    const free = await rateOf(() => received, 500, 100);
    assert.ok(
      free > 3 * 2_000_000,
      `without a limit the connection runs at loopback speed (${Math.round(free)} B/s)`,
    );
  });

  test('a channel held by a limit, or by a visitor that went away, is freed at once', async (t) => {
    const target = await listenLocal((socket) => flood(socket));
    t.after(() => target.close());
    const [slow, plain, stuck] = [await freePort(), await freePort(), await freePort()];
    const record = license('lab', KEY, [
      // 64 KiB of debt at 1 kB/s would hold the channel for a minute.
      { publicPort: slow, targetPort: target.port, downloadLimit: 1000 },
      { publicPort: plain, targetPort: target.port },
      { publicPort: stuck, targetPort: target.port },
    ]);
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);
    const busy = () => stack.server.sessions[0]?.stats.busy;
    const served = async (port: number) => {
      const visitor = connect({ host: '127.0.0.1', port });
      t.after(() => visitor.destroy());
      visitor.on('error', () => {});
      await new Promise((resolve) => visitor.once('data', resolve));
      return visitor;
    };

    // A visitor that resets while a speed limit holds its channel.
    (await served(slow)).resetAndDestroy();
    await waitFor(() => busy() === 0, 2000, 'the throttled channel to be released');

    // A visitor that half-closes and is gone, while the target keeps sending: once a write to it
    // fails, the channel is dropped rather than left waiting for a drain that cannot come.
    (await served(plain)).destroy();
    await waitFor(() => busy() === 0, 2000, 'the channel of the vanished visitor to be released');

    // A visitor that reads nothing fills its socket and the relay pauses the channel for it;
    // closing the mapping aborts the visitor, and the channel must still read the client's answer.
    const full = await served(stuck);
    full.pause();
    await sleep(300);
    assert.equal(busy(), 1);
    stack.directory.update({ ...record, mappings: record.mappings.filter((m) => m.publicPort !== stuck) });
    await waitFor(() => busy() === 0, 2000, 'the aborted channel to be released');
  });
});
