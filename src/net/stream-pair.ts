// Two connected in-process streams, like the two ends of a socket: what one end writes, the other
// reads; a write waits until the reader takes it once the reader's buffer is full (backpressure);
// end() is a half-close; destroying one end mid-stream destroys the other. The HTTP router speaks
// HTTP on one end while the tunnel relays the other as it would a visitor's socket.

import { Duplex } from 'node:stream';

export class StreamEnd extends Duplex {
  #peer: StreamEnd | undefined;
  /** The peer's write callback, held while our read buffer is full. */
  #resumeWriter: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: true });
  }

  /** Joins two fresh ends into one connection. */
  static join(a: StreamEnd, b: StreamEnd): void {
    a.#peer = b;
    b.#peer = a;
  }

  override _read(): void {
    const resume = this.#resumeWriter;
    this.#resumeWriter = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.#peer;
    if (!peer || peer.destroyed) {
      callback(new Error('the other end of the stream is closed'));
      return;
    }
    if (chunk.length === 0 || peer.push(chunk)) callback();
    else peer.#resumeWriter = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.#peer;
    this.#peer = undefined;
    // A clean finish (both directions ended) leaves the peer to drain what it still holds.
    if (peer && !peer.destroyed && !(this.readableEnded && this.writableFinished)) peer.destroy();
    callback(error);
  }
}

/** Two ends of one in-process connection. */
export function streamPair(): [StreamEnd, StreamEnd] {
  const a = new StreamEnd();
  const b = new StreamEnd();
  StreamEnd.join(a, b);
  return [a, b];
}
