// Specification of the kernel relay's sealed pairs (src/net/kernel-relay.ts, native/kernel-relay.c):
// a plain socket joined to a TLS channel whose bytes, once both ends hand it over, are records
// sealed with keys from the channel's TLS session. On real loopback sockets:
//
//   visitor → front | sealed relay (server, START) | channel: TLS client → tap → TLS server |
//   sealed relay (client, held until START) | back → target
//
// The tap forwards the channel's bytes and can change, cut or add to them, as a network could.
// The handover follows the protocol: the server says CONNECT over TLS, the client stops reading
// and answers CONNECTED, each then gives its end to the relay.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  createServer as createTlsServer,
  type Server,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import {
  KernelRelay,
  type KernelRelayEnd,
  type Seal,
  sealedRelayAvailable,
  stopReading,
} from '../../src/net/kernel-relay.ts';
import { sealOf } from '../../src/net/raw-transport.ts';
import { makeCertificate } from '../support/certs.ts';
import { dial, listenLocal, readAll, readBytes, type TestServer, waitFor } from '../support/net.ts';

/** The visitor id the sealed sessions here are for (the keys' context). */
const VISITOR = 7;

const skip = sealedRelayAvailable()
  ? false
  : 'the kernel relay is not built, or this Node has no AES-256-GCM';

interface Tap {
  /** Called with each chunk from the TLS client towards the server; returns what to forward. */
  upstream: (chunk: Buffer) => Buffer;
  /** The tap's connection to the TLS server (to cut or write into). */
  toServer: Socket;
  /** The tap's connection from the TLS client. */
  toClient: Socket;
}

interface Side {
  relay: KernelRelay;
  ended: Promise<KernelRelayEnd>;
}

interface Sealed {
  /** The channel's TLS version. */
  protocol: string | null;
  visitor: Socket;
  target: Socket;
  server: Side;
  client: Side;
  tap: Tap;
}

function side(plain: Socket, channel: TLSSocket, seal: Seal): Side {
  let resolveEnd: (end: KernelRelayEnd) => void = () => {};
  const ended = new Promise<KernelRelayEnd>((resolve) => {
    resolveEnd = resolve;
  });
  return { relay: new KernelRelay(plain, channel, resolveEnd, { seal }), ended };
}

describe('sealed relay', { skip, timeout: 30_000 }, () => {
  let tls: Server;
  let tlsPort = 0;
  const tlsAccepted: TLSSocket[] = [];
  let tapServer: TestServer;
  const taps: Tap[] = [];
  let entry: TestServer;
  const fronts: Socket[] = [];
  let targets: TestServer;
  const arrived: Socket[] = [];

  before(async () => {
    const certificate = await makeCertificate(['muon.test']);
    tls = createTlsServer({ cert: certificate.cert, key: certificate.key }, (s) => tlsAccepted.push(s));
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    tlsPort = (tls.address() as { port: number }).port;
    tapServer = await listenLocal((fromClient) => {
      fromClient.pause();
      void dial(tlsPort).then((toServer) => {
        const tap: Tap = { upstream: (chunk) => chunk, toServer, toClient: fromClient };
        taps.push(tap);
        fromClient.on('data', (chunk: Buffer) => toServer.write(tap.upstream(chunk)));
        fromClient.on('end', () => toServer.end());
        toServer.pipe(fromClient);
        for (const s of [fromClient, toServer]) s.on('error', () => {});
        fromClient.on('close', () => toServer.destroy());
        toServer.on('close', () => fromClient.destroy());
        fromClient.resume();
      });
    });
    entry = await listenLocal((s) => fronts.push(s));
    targets = await listenLocal((s) => arrived.push(s));
  });

  after(async () => {
    tls.close();
    await Promise.all([tapServer.close(), entry.close(), targets.close()]);
  });

  async function next<T>(queue: T[], what: string): Promise<T> {
    await waitFor(() => queue.length > 0, 5000, what);
    return queue.shift() as T;
  }

  /**
   * Sets the whole chain up and hands both ends of the channel to sealed relays (`recordsPerKey`:
   * each side's, when not the default; `tls12`: the channel speaks TLS 1.2, which the tunnel allows).
   */
  async function sealed(
    recordsPerKey: { server?: number; client?: number } = {},
    tls12 = false,
  ): Promise<Sealed> {
    const client = tlsConnect({
      port: tapServer.port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ...(tls12 && { maxVersion: 'TLSv1.2' as const }),
    });
    await once(client, 'secureConnect');
    const server = await next(tlsAccepted, 'the TLS server to accept');
    const tap = await next(taps, 'the tap to connect');
    const visitor = await dial(entry.port);
    const front = await next(fronts, 'the front to be accepted');
    front.pause();

    server.write('CONNECT');
    assert.equal((await readBytes(client, 7)).toString(), 'CONNECT');
    stopReading(client);
    const back = await dial(targets.port);
    const target = await next(arrived, 'the target to be reached');
    back.pause();
    const clientSeal = sealOf(client, VISITOR, 'client');
    await new Promise<void>((resolve) => client.write('CONNECTED', () => resolve()));
    const clientSide = side(back, client, {
      ...clientSeal,
      ...(recordsPerKey.client && { recordsPerKey: recordsPerKey.client }),
    });

    assert.equal((await readBytes(server, 9)).toString(), 'CONNECTED');
    const serverSide = side(front, server, {
      ...sealOf(server, VISITOR, 'server'),
      ...(recordsPerKey.server && { recordsPerKey: recordsPerKey.server }),
    });
    // A failing relay resets the visitor and the target: tests that expect it listen for it themselves.
    for (const socket of [visitor, target]) socket.on('error', () => {});
    return { protocol: client.getProtocol(), visitor, target, server: serverSide, client: clientSide, tap };
  }

  test('both ends of a TLS session derive the same keys: what one sends the other receives, per visitor', async () => {
    const client = tlsConnect({ port: tlsPort, host: '127.0.0.1', rejectUnauthorized: false });
    await once(client, 'secureConnect');
    const server = await next(tlsAccepted, 'the TLS server to accept');
    const atClient = sealOf(client, VISITOR, 'client');
    const atServer = sealOf(server, VISITOR, 'server');
    assert.deepEqual([atClient.send, atClient.receive], [atServer.receive, atServer.send]);
    assert.deepEqual([atServer.start, atClient.start], [true, false]);
    assert.notDeepEqual(atServer.send, atServer.receive);
    assert.notDeepEqual(sealOf(server, VISITOR + 1, 'server').send, atServer.send);
    client.destroy();
    server.destroy();
  });

  /** Sends `bytes` random bytes each way at once, ending both directions; asserts they arrive intact. */
  async function exchange(s: Sealed, bytes: number): Promise<{ up: Buffer; down: Buffer }> {
    const up = randomBytes(bytes);
    const down = randomBytes(bytes);
    const atTarget = readAll(s.target);
    const atVisitor = readAll(s.visitor);
    s.visitor.end(up);
    s.target.end(down);
    assert.ok((await atTarget).equals(up));
    assert.ok((await atVisitor).equals(down));
    return { up, down };
  }

  test('moves 8 MiB each way at once, byte for byte, and counts the bytes of the session', async () => {
    const s = await sealed();
    const { up, down } = await exchange(s, 8 * 1024 * 1024);
    assert.deepEqual(await s.server.ended, { error: null, aToB: up.length, bToA: down.length });
    assert.deepEqual(await s.client.ended, { error: null, aToB: down.length, bToA: up.length });
  });

  test('a channel that speaks TLS 1.2 is sealed the same way', async () => {
    const s = await sealed({}, true);
    assert.equal(s.protocol, 'TLSv1.2');
    const { up, down } = await exchange(s, 1024 * 1024);
    assert.deepEqual(await s.server.ended, { error: null, aToB: up.length, bToA: down.length });
  });

  test('both sides move to the next key every recordsPerKey records without a word; the bytes arrive intact', async () => {
    const s = await sealed({ server: 3, client: 3 });
    await exchange(s, 4 * 1024 * 1024); // at least 32 records of 128 KiB each way
    assert.equal((await s.server.ended).error, null);
  });

  test('a side that moves to the next key at another record than its peer fails with EBADMSG', async () => {
    const s = await sealed({ client: 3 }); // the server keeps one key for 2^20 records
    s.target.write(randomBytes(4 * 1024 * 1024));
    assert.equal((await s.server.ended).error, 'EBADMSG');
  });

  test('the channel carries no plaintext: each chunk on the wire is sealed', async () => {
    const s = await sealed();
    const seen: Buffer[] = [];
    s.tap.upstream = (chunk) => {
      seen.push(chunk);
      return chunk;
    };
    const marker = Buffer.from('a very recognisable plaintext marker '.repeat(100));
    const atVisitor = readAll(s.visitor);
    s.target.end(marker);
    s.visitor.end();
    assert.ok((await atVisitor).equals(marker));
    const wire = Buffer.concat(seen);
    assert.ok(wire.length >= marker.length + 16, 'the record and its tag went over the tap');
    assert.equal(wire.indexOf('recognisable'), -1);
  });

  test("the client's side sends nothing before the server's START: a target that speaks first is heard", async () => {
    const s = await sealed();
    const greeting = Buffer.from('220 greeting from a target that speaks first\r\n');
    s.target.write(greeting);
    assert.ok((await readBytes(s.visitor, greeting.length)).equals(greeting));
    s.visitor.end();
    s.target.end();
    assert.equal((await s.server.ended).error, null);
  });

  test('forwards a half-close each way with an END record, and keeps the other direction open', async () => {
    const s = await sealed();
    const request = readAll(s.target);
    s.visitor.end('request');
    assert.equal((await request).toString(), 'request');
    const reply = readAll(s.visitor);
    s.target.end('reply after your end');
    assert.equal((await reply).toString(), 'reply after your end');
    assert.equal((await s.server.ended).error, null);
    assert.equal((await s.client.ended).error, null);
  });

  test('a changed byte on the channel ends the receiving side with EBADMSG and resets both its sockets', async () => {
    const s = await sealed();
    s.tap.upstream = (chunk) => {
      const changed = Buffer.from(chunk);
      changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
      return changed;
    };
    const visitorError = new Promise<NodeJS.ErrnoException>((resolve) => s.visitor.once('error', resolve));
    s.target.write('this record will not open');
    assert.equal((await s.server.ended).error, 'EBADMSG');
    assert.equal((await visitorError).code, 'ECONNRESET');
    assert.match((await s.client.ended).error ?? '', /^E[A-Z]+$/);
  });

  test('a reset while its direction waits for a target that does not read still ends the relay', async () => {
    const s = await sealed();
    s.target.pause(); // the target reads nothing: visitor → target fills up and waits
    s.visitor.write(Buffer.alloc(32 * 1024 * 1024));
    await new Promise((r) => setTimeout(r, 200));
    s.visitor.resetAndDestroy();
    assert.equal((await s.server.ended).error, 'ECONNRESET');
    // The server reset the channel; the tap, paused by the client's backpressure, passes that on.
    s.tap.toClient.resetAndDestroy();
    assert.equal((await s.client.ended).error, 'ECONNRESET');
  });

  test('a channel cut short, without END, ends the receiving side with EPROTO', async () => {
    const s = await sealed();
    s.tap.toServer.end();
    const end = await s.server.ended;
    assert.equal(end.error, 'EPROTO');
    s.target.destroy();
  });

  test('a record of an unknown type ends the receiving side with EPROTO before any payload is written', async () => {
    const s = await sealed();
    s.tap.toServer.write(Buffer.concat([Buffer.from([9, 0, 0, 16]), Buffer.alloc(16)]));
    assert.equal((await s.server.ended).error, 'EPROTO');
    s.target.destroy();
  });

  test('a record that says it is longer than the largest record (128 KiB) ends the receiving side with EPROTO', async () => {
    const s = await sealed();
    s.tap.toServer.write(Buffer.from([0, 0x02, 0x00, 0x00]));
    assert.equal((await s.server.ended).error, 'EPROTO');
    s.target.destroy();
  });

  test('close() aborts once and may be called again; the far side ends with an error, never a clean END', async () => {
    const s = await sealed();
    const visitorEnded = once(s.visitor, 'end');
    s.visitor.resume();
    s.server.relay.close();
    s.server.relay.close();
    assert.equal((await s.server.ended).error, 'ABORTED');
    await visitorEnded;
    assert.match((await s.client.ended).error ?? '', /^E[A-Z]+$/);
    s.target.destroy();
  });

  test('keys that are not 32 bytes are refused with a TypeError', async () => {
    const s = await sealed();
    const a = await dial(entry.port);
    const front = await next(fronts, 'the front to be accepted');
    assert.throws(
      () =>
        new KernelRelay(front, a, () => {}, {
          seal: { send: Buffer.alloc(16), receive: Buffer.alloc(32), start: true },
        }),
      /32-byte keys/,
    );
    for (const socket of [a, front, s.visitor, s.target]) socket.destroy();
    s.server.relay.close();
    s.client.relay.close();
  });
});
