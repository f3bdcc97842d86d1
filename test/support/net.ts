// Loopback helpers for tests: free ports, simple target services, and promise wrappers.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { claimPort } from './ports.ts';

/** A TCP port free on 127.0.0.1 that no other test process holds (see ports.ts). */
export function freePort(): Promise<number> {
  return claimPort('tcp');
}

export interface TestServer {
  server: Server;
  port: number;
  /** Every socket accepted so far. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 with half-open sockets, tracking its sockets for cleanup. */
export async function listenLocal(onSocket: (socket: Socket) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    sockets,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

/** Echoes everything and half-closes when the peer does. */
export function echoServer(): Promise<TestServer> {
  return listenLocal((socket) => socket.pipe(socket));
}

export function dial(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads until the peer ends; resolves with everything read. Rejects on error. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** Sends `payload` through `port`, half-closes, and returns what came back. */
export async function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  const socket = await dial(port);
  const received = readAll(socket);
  socket.end(payload);
  const result = await received;
  socket.destroy();
  return result;
}

/**
 * Established TCP connections of this process on `port`, as the local or the remote port, read
 * from /proc. Paused sockets notice nothing when their peer closes, and a socket closed with
 * unsent data lingers in the kernel (FIN_WAIT1): what counts is that it is no longer ESTABLISHED.
 */
export async function established(side: 'local' | 'remote', port: number): Promise<number> {
  const table = await readFile('/proc/self/net/tcp', 'utf8');
  const column = side === 'local' ? 1 : 2;
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => Number.parseInt(f[column]?.split(':')[1] ?? '', 16) === port && f[3] === '01').length;
}

/** The kernel's maximum for an autotuned socket buffer: the third field of tcp_rmem or tcp_wmem. */
export function kernelBufferMax(file: string, fallback: number): number {
  try {
    return Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2]) || fallback;
  } catch {
    return fallback;
  }
}

/** Resolves with whether the peer ended or reset the connection within `ms` (data is discarded). */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

/** Polls `check` (sync or async) every 10 ms until it returns true or `ms` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Counts the pause() calls `stream` gets from now on (it still pauses); read with the result. */
export function countPauses(stream: { pause(): unknown }): () => number {
  let pauses = 0;
  const pause = stream.pause.bind(stream);
  stream.pause = () => {
    pauses++;
    return pause();
  };
  return () => pauses;
}

/** Resolves with the next `n` bytes from `socket` (it must not send more meanwhile). */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got < n) return;
      detach();
      resolve(Buffer.concat(chunks));
    };
    const onEnd = () => {
      detach();
      reject(new Error(`the connection ended after ${got} of ${n} bytes`));
    };
    const detach = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A visitor that has had `message` echoed byte-exact, left open. */
export async function echoedVisitor(port: number, message: Buffer): Promise<Socket> {
  const socket = await dial(port);
  socket.on('error', () => {});
  const reply = readBytes(socket, message.length);
  socket.write(message);
  assert.equal(sha(await reply), sha(message));
  return socket;
}
