// UDP helpers for tests on loopback: free ports, small target services (an echo and a DNS-like
// responder), and visitor sockets that wait for their next datagram. Everything is closed in
// t.after by the caller's context.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { claimPort } from './ports.ts';

interface AfterContext {
  after(fn: () => unknown): void;
}

/** A UDP socket bound to `address` port 0, closed after the test. */
export async function udpSocket(t: AfterContext, address = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  t.after(() => closeQuietly(socket));
  return socket;
}

/** A UDP port free on 127.0.0.1 that no other test process holds (see ports.ts). */
export function freeUdpPort(): Promise<number> {
  return claimPort('udp');
}

export interface UdpService {
  port: number;
  /** Every datagram received, with who sent it. */
  received: Array<{ datagram: Buffer; from: RemoteInfo }>;
  /** Source ports seen so far (one per tunnel session: the client opens a socket per visitor). */
  sourcePorts(): Set<number>;
}

/** A UDP service on 127.0.0.1 that answers each datagram with `reply(datagram)` (undefined: no answer). */
export async function udpService(
  t: AfterContext,
  reply: (datagram: Buffer) => Buffer | undefined,
): Promise<UdpService> {
  const socket = await udpSocket(t);
  const received: UdpService['received'] = [];
  socket.on('message', (datagram, from) => {
    received.push({ datagram, from });
    const answer = reply(datagram);
    if (answer) socket.send(answer, from.port, from.address);
  });
  return {
    port: socket.address().port,
    received,
    sourcePorts: () => new Set(received.map((r) => r.from.port)),
  };
}

/** Echoes every datagram to its sender, unchanged. */
export function udpEcho(t: AfterContext): Promise<UdpService> {
  return udpService(t, (datagram) => datagram);
}

/**
 * Not a DNS server: a tiny responder shaped like one. A query is a 16-bit id followed by a name;
 * the answer repeats the id and carries `answer:<name>`, so a visitor can match replies to queries.
 */
export function dnsLikeResponder(t: AfterContext): Promise<UdpService> {
  return udpService(t, (query) => {
    if (query.length < 2) return undefined;
    return Buffer.concat([query.subarray(0, 2), Buffer.from(`answer:${query.subarray(2).toString()}`)]);
  });
}

/** Collects the next `count` datagrams on `socket`; rejects after `ms` with how many arrived. */
export function nextDatagrams(socket: Socket, count: number, ms = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`got ${got.length} of ${count} datagrams within ${ms} ms`));
    }, ms);
    const onMessage = (datagram: Buffer) => {
      got.push(datagram);
      if (got.length < count) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(got);
    };
    socket.on('message', onMessage);
  });
}

/** Datagrams that arrive on `socket` within `ms` (for asserting that nothing comes back). */
export async function datagramsWithin(socket: Socket, ms: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const onMessage = (datagram: Buffer) => got.push(datagram);
  socket.on('message', onMessage);
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.off('message', onMessage);
  return got;
}

/** Sends one datagram and resolves with the first one that comes back. */
export async function ask(socket: Socket, port: number, datagram: Buffer, ms = 3000): Promise<Buffer> {
  const reply = nextDatagrams(socket, 1, ms);
  socket.send(datagram, port, '127.0.0.1');
  const [first] = await reply;
  return first as Buffer;
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
