// Traffic helpers for the fault suite: visitors that stream through the tunnel, and the instant
// a socket closes, so tests can time how fast a fault reaches the visitor.

import type { Socket } from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 0x6d);

export interface Stream {
  /** Bytes accepted by the socket so far. */
  written(): number;
  /** Bytes read back so far. */
  read(): number;
  /** performance.now() when the socket closed (reset, end or error), once it has. */
  closed: Promise<number>;
  stop(): void;
}

/**
 * Writes as fast as `socket` accepts (honouring its backpressure, up to `limit` bytes) and reads
 * whatever comes back, until stopped or closed.
 */
export function stream(socket: Socket, limit = Number.POSITIVE_INFINITY): Stream {
  let written = 0;
  let read = 0;
  let stopped = false;
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => {
    read += c.length;
  });
  const closed = closedAt(socket);
  const pump = () => {
    while (!stopped && !socket.destroyed && written < limit) {
      written += CHUNK.length;
      if (!socket.write(CHUNK)) return void socket.once('drain', pump);
    }
  };
  pump();
  return {
    written: () => written,
    read: () => read,
    closed,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Resolves with performance.now() when the peer ended or reset the connection: 'end' (a FIN; the
 * test sockets allow half-open, so 'close' would wait for our own end) or 'close'.
 */
export function closedAt(socket: Socket): Promise<number> {
  if (socket.closed || socket.readableEnded) return Promise.resolve(performance.now());
  socket.on('error', () => {});
  return new Promise((resolve) => {
    const done = () => resolve(performance.now());
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** Resolves with `promise`, or with `fallback` after `ms`. */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<F>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]);
}

/** Summary of a list of durations in ms: min, median, max. */
export function spread(values: number[]): { n: number; min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: Math.round(sorted[0] ?? Number.NaN),
    median: Math.round(sorted[Math.floor(sorted.length / 2)] ?? Number.NaN),
    max: Math.round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}
