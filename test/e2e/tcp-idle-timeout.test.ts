// TCP session idle timeouts, end to end on loopback: a session that has been half-closed by
// either side and then carries no byte for `limits.halfClosedTimeout` is ended (the visitor's
// socket, the proxy channel and the client's connection to the target all go), while bytes that
// keep moving keep it alive; a full-open idle session is left alone unless
// `limits.tcpIdleTimeout` is set. HTTP visitors, relayed the same way, get a page naming it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TunnelClientOptions } from '../../src/client/options.ts';
import type { TunnelServerOptions } from '../../src/server/options.ts';
import { domain, httpLicense, httpMapping, open, route, startHttpStack } from '../support/http.ts';
import { closedWithin, dial, freePort, listenLocal, type TestServer, waitFor } from '../support/net.ts';
import { KEY, license, type Stack, startStack } from '../support/stack.ts';

/** The timeout the tests configure, small so that they run quickly. */
const TIMEOUT_MS = 400;
/** The watch checks four times per timeout: it ends a session at most a quarter late, plus slack for a busy machine. */
const LATEST_MS = TIMEOUT_MS * 1.25 + 1500;

interface Lab {
  stack: Stack;
  port: number;
  target: TestServer;
  /** The target's side of each connection the client made, in order. */
  accepted: Socket[];
}

/** A mapping in front of a target that `serve` drives; every socket it gets is recorded. */
async function lab(
  t: TestContext,
  server: Partial<TunnelServerOptions>,
  serve: (socket: Socket) => void = (socket) => socket.resume(),
  tls = false,
  client: Partial<TunnelClientOptions> = {},
): Promise<Lab> {
  const accepted: Socket[] = [];
  const target = await listenLocal((socket) => {
    accepted.push(socket);
    serve(socket);
  });
  t.after(() => target.close());
  const port = await freePort();
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])], {
    server,
    tls,
  });
  await stack.onlineClient(KEY, client);
  return { stack, port, target, accepted };
}

/** A visitor whose received bytes are collected; destroyed after the test. */
async function visitor(t: TestContext, port: number): Promise<{ socket: Socket; received: () => string }> {
  const socket = await dial(port);
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { socket, received: () => Buffer.concat(chunks).toString() };
}

/** Resolves with how long after `since` the socket was closed (ended or reset), or rejects after `ms`. */
async function closedAfter(socket: Socket, since: number, ms: number): Promise<number> {
  assert.ok(await closedWithin(socket, ms), `the visitor should be closed within ${ms} ms`);
  return performance.now() - since;
}

/**
 * Whether the peer of `socket` has closed the connection: writes a byte every 50 ms until one
 * fails. A target that half-closed or was half-closed no longer sees an 'end', so writing is how
 * it finds out (the first write after the close draws a reset, the next one fails).
 */
async function peerGoneWithin(socket: Socket, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!socket.destroyed && performance.now() < deadline) {
    socket.write('?');
    await sleep(50);
  }
  return socket.destroyed;
}

function busyChannels(stack: Stack): number {
  return stack.server.sessions[0]?.stats.busy ?? -1;
}

describe('TCP session idle timeouts', () => {
  for (const tls of [false, true]) {
    test(`a visitor that half-closes in front of a silent target is ended after halfClosedTimeout, and the client closes its target connection (${tls ? 'TLS' : 'plain'} tunnel)`, async (t) => {
      const { stack, port, accepted } = await lab(t, { halfClosedTimeoutMs: TIMEOUT_MS }, undefined, tls);
      const { socket } = await visitor(t, port);
      socket.write('request');
      await waitFor(() => accepted.length === 1, 5000, 'the target connection');
      const target = accepted[0] as Socket;
      const targetEnded = new Promise((resolve) => target.once('end', resolve));

      const halfClosedAt = performance.now();
      socket.end();
      await targetEnded; // the half-close reached the target, which neither answers nor closes
      const elapsed = await closedAfter(socket, halfClosedAt, LATEST_MS);
      assert.ok(elapsed >= TIMEOUT_MS - 5, `ended after ${elapsed.toFixed(0)} ms, not before the timeout`);
      t.diagnostic(`visitor closed ${elapsed.toFixed(0)} ms after its half-close (timeout ${TIMEOUT_MS} ms)`);

      assert.ok(await peerGoneWithin(target, 2000), 'the client closed its connection to the target');
      await waitFor(() => busyChannels(stack) === 0, 2000, 'the server to free the proxy channel');
      assert.ok(stack.serverLog.codes().includes('MUON_ERR_IDLE_TIMEOUT'), 'the server says why (debug)');
    });
  }

  test('a target that half-closes in front of a silent visitor is ended the same way, and the channel is reused', async (t) => {
    const { stack, port, accepted } = await lab(
      t,
      { halfClosedTimeoutMs: TIMEOUT_MS },
      (socket) => {
        socket.resume();
        socket.end('banner\n'); // a server that speaks first, then half-closes
      },
      false,
      { mux: false }, // one channel per visitor, to see it back in the pool
    );
    const { socket, received } = await visitor(t, port);
    await waitFor(() => received() === 'banner\n', 5000, 'the banner');
    const bannerAt = performance.now();
    const target = accepted[0] as Socket;

    // The target only half-closed its connection: the client closing it is an 'end' there.
    await once(target, 'end', { signal: AbortSignal.timeout(LATEST_MS) });
    const elapsed = performance.now() - bannerAt;
    assert.ok(elapsed >= TIMEOUT_MS - 20, `ended ${elapsed.toFixed(0)} ms after the banner`);
    // The visitor was ended too (its side was half-closed, so only a write tells).
    assert.ok(await peerGoneWithin(socket, 2000), 'the server closed the visitor');
    // DISCONNECT answered in-band: the channel goes back to the pool, beside the two the client
    // keeps warm (it replaced this one when the visitor took it).
    const stats = () => stack.server.sessions[0]?.stats;
    await waitFor(() => stats()?.busy === 0 && stats()?.idle === 3, 2000, 'the channel back in the pool');

    const next = await visitor(t, port);
    await waitFor(() => next.received() === 'banner\n', 5000, 'the next visitor served');
  });

  test('a half-closed session is kept while bytes keep moving, and ended once they stop', async (t) => {
    let target: Socket | undefined;
    const { port } = await lab(t, { halfClosedTimeoutMs: TIMEOUT_MS }, (socket) => {
      target = socket;
      socket.resume();
    });
    const { socket, received } = await visitor(t, port);
    socket.end('request'); // asks, and half-closes at once
    await waitFor(() => target !== undefined, 5000, 'the target connection');

    // The answer trickles for 3× the timeout: one chunk every 100 ms.
    let lastChunkAt = 0;
    for (let i = 0; i < 12; i++) {
      if (i > 0) await sleep(100);
      target?.write(`chunk ${i}\n`);
      lastChunkAt = performance.now();
    }
    await waitFor(() => received().endsWith('chunk 11\n'), 2000, 'the last chunk');
    assert.equal(socket.destroyed, false, 'the session lived while bytes moved');
    assert.equal(received().split('\n').length - 1, 12, 'every chunk arrived');

    const elapsed = await closedAfter(socket, lastChunkAt, LATEST_MS);
    assert.ok(elapsed >= TIMEOUT_MS - 5, `ended ${elapsed.toFixed(0)} ms after the last byte`);
  });

  test('an idle full-open session is not cut by default, and ended once half-closed and quiet', async (t) => {
    // Echoes, but never ends its side: half-closed by the visitor, it simply stays silent.
    const { port } = await lab(t, { halfClosedTimeoutMs: TIMEOUT_MS }, (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
    const { socket, received } = await visitor(t, port);
    socket.write('ping 1');
    await waitFor(() => received() === 'ping 1', 5000, 'the first echo');

    await sleep(TIMEOUT_MS * 4); // idle, full-open: no timeout applies (tcpIdleTimeout is unset)
    socket.write('ping 2');
    await waitFor(() => received() === 'ping 1ping 2', 2000, 'the second echo');
    assert.equal(socket.destroyed, false);

    const halfClosedAt = performance.now();
    socket.end();
    const elapsed = await closedAfter(socket, halfClosedAt, LATEST_MS);
    assert.ok(elapsed >= TIMEOUT_MS - 5, `ended ${elapsed.toFixed(0)} ms after the half-close`);
  });

  test('with tcpIdleTimeout set, a full-open session is kept while bytes move and ended after that long without any', async (t) => {
    const { stack, port, accepted } = await lab(t, { tcpIdleTimeoutMs: TIMEOUT_MS }, (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
    const { socket, received } = await visitor(t, port);
    let expected = '';
    let lastByteAt = 0;
    // 3× the timeout of traffic, one small exchange every 100 ms.
    for (let i = 0; i < 12; i++) {
      if (i > 0) await sleep(100);
      socket.write(`${i},`);
      expected += `${i},`;
      lastByteAt = performance.now();
    }
    await waitFor(() => received() === expected, 2000, 'every echo');
    assert.equal(socket.destroyed, false, 'the session lived while bytes moved');
    const target = accepted[0] as Socket;
    const targetEnded = new Promise((resolve) => target.once('end', resolve));

    const elapsed = await closedAfter(socket, lastByteAt, LATEST_MS);
    assert.ok(elapsed >= TIMEOUT_MS - 5, `ended ${elapsed.toFixed(0)} ms after the last byte`);
    await targetEnded; // the client closed its connection to the target
    await waitFor(() => busyChannels(stack) === 0, 2000, 'the server to free the proxy channel');
  });

  test('an HTTP visitor that sent its request and half-closed, with a target that never answers, gets a page naming the timeout', async (t) => {
    // Reads the request and then neither answers nor closes, even once half-closed.
    let request = '';
    const target = await listenLocal((socket) => socket.on('data', (chunk: Buffer) => (request += chunk)));
    t.after(() => target.close());
    const { stack, httpPort } = await startHttpStack(
      t,
      [httpLicense('lab', KEY, [httpMapping('m', target.port)])],
      { routes: [route('app.example.test', 'lab', 'm', target.port)], domains: [domain('example.test')] },
      { stack: { server: { halfClosedTimeoutMs: TIMEOUT_MS } } },
    );
    await stack.onlineClient(KEY);
    const connection = await open(httpPort);
    t.after(() => connection.socket.destroy());
    connection.socket.end('GET /slow HTTP/1.1\r\nHost: app.example.test\r\n\r\n');
    await waitFor(() => request.endsWith('\r\n\r\n'), 5000, 'the request at the target');

    const answer = await connection.closed(LATEST_MS + 2000);
    assert.match(answer, /^HTTP\/1\.1 504 /);
    assert.match(answer, /X-Muon-Error: MUON_ERR_IDLE_TIMEOUT/);
  });
});
