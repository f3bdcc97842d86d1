// The TLS tunnel port admits connections from their TCP accept, not from the end of the TLS
// handshake: the handshake timeout covers the TLS handshake, a failed TLS handshake is a failed
// handshake (reported, counted against the address), and the pending cap and the per-address
// limit turn connections away before any TLS work. Honest clients over TLS are unaffected.

import assert from 'node:assert/strict';
import { type Socket, connect as tcpConnect } from 'node:net';
import type { TestContext } from 'node:test';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { ErrorCode } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { decodeMessage, type Message } from '../../src/protocol/messages.ts';
import { NULL_OBSERVER, type TunnelObserver } from '../../src/server/observer.ts';
import type { TunnelServerOptions } from '../../src/server/options.ts';
import { echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { KEY, license, type Stack, startStack } from '../support/stack.ts';

/** Records the codes of failed handshakes, by remote address. */
class FailureLog implements TunnelObserver {
  readonly failures: Array<{ code: ErrorCode; remote: string }> = [];
  sessionOpened = NULL_OBSERVER.sessionOpened;
  sessionClosed = NULL_OBSERVER.sessionClosed;
  visitorOpened = NULL_OBSERVER.visitorOpened;
  visitorConnected = NULL_OBSERVER.visitorConnected;
  visitorClosed = NULL_OBSERVER.visitorClosed;
  visitorRefused = NULL_OBSERVER.visitorRefused;
  traffic = NULL_OBSERVER.traffic;

  handshakeFailed(code: ErrorCode, remote: string): void {
    this.failures.push({ code, remote });
  }

  codes(remote?: string): ErrorCode[] {
    return this.failures.filter((f) => remote === undefined || f.remote === remote).map((f) => f.code);
  }
}

/** A raw TCP connection to the TLS port from `address`, with when it opened and when it closed. */
async function rawConnection(
  t: TestContext,
  port: number,
  address = '127.0.0.1',
): Promise<{ socket: Socket; openedAt: number; closed: Promise<number> }> {
  const socket = tcpConnect({ port, host: '127.0.0.1', localAddress: address });
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  const openedAt = performance.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  socket.resume();
  return { socket, openedAt, closed };
}

/** Completes TLS over `socket` (trusting any certificate) and decodes the Muon frames that follow. */
async function tlsOver(socket: Socket): Promise<{ tls: TLSSocket; messages: Message[] }> {
  socket.pause();
  const tls = tlsConnect({ socket, rejectUnauthorized: false });
  tls.on('error', () => {});
  const messages: Message[] = [];
  const decoder = new FrameDecoder(
    { onFrame: (type, payload) => messages.push(decodeMessage(type, payload)), onData: () => {} },
    { expectPreamble: true },
  );
  tls.on('data', (chunk: Buffer) => decoder.push(chunk));
  await new Promise((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('close', () => reject(new Error('closed during the TLS handshake')));
  });
  return { tls, messages };
}

async function tlsStack(t: TestContext, server: Partial<TunnelServerOptions>): Promise<Stack> {
  return startStack(t, [license('lab', KEY, [])], { tls: true, server });
}

describe('admission on the TLS tunnel port', () => {
  test('a connection that never completes the TLS handshake is closed at the handshake timeout, even one that keeps sending bytes', async (t) => {
    const observer = new FailureLog();
    const stack = await tlsStack(t, { handshakeTimeoutMs: 400, observer });
    const silent = await rawConnection(t, stack.tunnelPort, '127.0.3.1');
    const drip = await rawConnection(t, stack.tunnelPort, '127.0.3.2');
    // A TLS record header, then one byte of it every 50 ms: traffic, never a complete hello.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < hello.length) drip.socket.write(hello.subarray(sent, ++sent));
    }, 50);
    t.after(() => clearInterval(timer));
    const times = [(await silent.closed) - silent.openedAt, (await drip.closed) - drip.openedAt];
    t.diagnostic(`closed after connect (ms): ${times.map(Math.round).join(', ')}`);
    for (const ms of times)
      assert.ok(ms >= 350 && ms < 1400, `closed at the 400 ms timeout, not after ${ms} ms`);
    await waitFor(() => observer.failures.length === 2, 1000, 'both failures reported');
    assert.deepEqual(observer.codes().sort(), ['MUON_ERR_HANDSHAKE_TIMEOUT', 'MUON_ERR_HANDSHAKE_TIMEOUT']);
  });

  test('the handshake clock starts at the TCP accept: a slow TLS handshake leaves only the rest of it for AUTH', async (t) => {
    const observer = new FailureLog();
    const stack = await tlsStack(t, { handshakeTimeoutMs: 800, observer });
    const raw = await rawConnection(t, stack.tunnelPort);
    await sleep(500);
    const { tls, messages } = await tlsOver(raw.socket);
    t.after(() => tls.destroy());
    await waitFor(() => messages.some((m) => m.type === 'ERROR'), 2000, 'ERROR frame');
    const closedMs = (await raw.closed) - raw.openedAt;
    t.diagnostic(`TLS done after ~500 ms; closed ${Math.round(closedMs)} ms after connect`);
    assert.equal(messages[0]?.type, 'CHALLENGE');
    const error = messages.find((m) => m.type === 'ERROR');
    assert.equal(error?.type === 'ERROR' ? error.code : undefined, 'MUON_ERR_HANDSHAKE_TIMEOUT');
    // Counted from the end of TLS, it would have closed at ~1300 ms.
    assert.ok(closedMs >= 750 && closedMs < 1200, `closed ~800 ms after connect, not ${closedMs}`);
    assert.deepEqual(observer.codes(), ['MUON_ERR_HANDSHAKE_TIMEOUT']);
  });

  test('a failed TLS handshake counts against its address as MUON_ERR_TLS, and a blocked address is turned away before any TLS', async (t) => {
    const observer = new FailureLog();
    const stack = await tlsStack(t, { maxAuthFailuresPerMinute: 3, observer });
    const attacker = '127.0.4.1';
    for (let i = 0; i < 3; i++) {
      const c = await rawConnection(t, stack.tunnelPort, attacker);
      c.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      await c.closed;
    }
    await waitFor(() => observer.codes(attacker).length === 3, 1000, 'three failures reported');
    assert.deepEqual(observer.codes(attacker), ['MUON_ERR_TLS', 'MUON_ERR_TLS', 'MUON_ERR_TLS']);

    // The fourth connection is closed without a TLS handshake: the server sends nothing at all.
    const refused = await rawConnection(t, stack.tunnelPort, attacker);
    const received: Buffer[] = [];
    refused.socket.on('data', (chunk: Buffer) => received.push(chunk));
    refused.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const refusedMs = (await refused.closed) - refused.openedAt;
    assert.ok(refusedMs < 500, `refused at once, not after ${refusedMs} ms`);
    assert.equal(Buffer.concat(received).length, 0, 'no TLS alert, no bytes');
    assert.deepEqual(observer.codes(attacker).slice(3), ['MUON_ERR_RATE_LIMITED']);

    // Other addresses, the honest client's among them, are not affected.
    const client = await stack.onlineClient(KEY);
    assert.ok(client);
    assert.equal(stack.server.sessions.length, 1);
  });

  test('connections still in their TLS handshake count toward maxPendingHandshakes; a peer that leaves is not a failure', async (t) => {
    const observer = new FailureLog();
    const stack = await tlsStack(t, { maxPendingHandshakes: 2, maxAuthFailuresPerMinute: 1, observer });
    const first = await rawConnection(t, stack.tunnelPort, '127.0.5.1');
    const second = await rawConnection(t, stack.tunnelPort, '127.0.5.2');
    const third = await rawConnection(t, stack.tunnelPort, '127.0.5.3');
    const thirdMs = (await third.closed) - third.openedAt;
    assert.ok(thirdMs < 500, `the third is refused at once, not after ${thirdMs} ms`);
    await waitFor(() => observer.failures.length === 1, 1000, 'the refusal reported');
    assert.deepEqual(observer.failures, [{ code: 'MUON_ERR_RATE_LIMITED', remote: '127.0.5.3' }]);

    // One leaves before its TLS handshake: its slot frees, and leaving costs it nothing.
    first.socket.destroy();
    await waitFor(() => observer.failures.length === 2, 1000, 'the departure reported');
    assert.deepEqual(observer.failures[1], { code: 'MUON_ERR_PEER_ERROR', remote: '127.0.5.1' });
    const again = await rawConnection(t, stack.tunnelPort, '127.0.5.1');
    const { tls, messages } = await tlsOver(again.socket);
    t.after(() => tls.destroy());
    await waitFor(() => messages.length > 0, 2000, 'CHALLENGE');
    assert.equal(messages[0]?.type, 'CHALLENGE');
    second.socket.destroy();
  });

  test('closing the server closes connections still in their TLS handshake', async (t) => {
    const stack = await tlsStack(t, {});
    const pending = await rawConnection(t, stack.tunnelPort);
    await sleep(50);
    const closing = performance.now();
    await stack.server.close();
    const ms = (await pending.closed) - closing;
    assert.ok(ms < 1000, `closed with the server, not ${ms} ms later`);
  });

  test('honest clients connect and serve over TLS as before', async (t) => {
    const echo = await echoServer();
    t.after(() => echo.close());
    const port = await freePort();
    const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: echo.port }])], {
      tls: true,
      server: { handshakeTimeoutMs: 1000, maxPendingHandshakes: 4 },
      client: { minIdleChannels: 3 },
    });
    await stack.onlineClient(KEY);
    for (let i = 0; i < 5; i++) {
      const visitor = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const reply = readAll(visitor);
      visitor.end(`hello ${i}`);
      assert.equal((await reply).toString(), `hello ${i}`);
    }
    assert.deepEqual(
      stack.serverLog.codes().filter((c) => c !== 'MUON_ERR_SHUTDOWN'),
      [],
      'no handshake failed or was refused',
    );
  });
});
