// Makes a fast reader give the event loop back now and then. libuv reads a readable socket up to
// 32 times in a row before it looks at any other socket, so one bulk transfer can hold the loop
// for milliseconds per turn, and every other visitor's bytes wait that long. After YIELD_BYTES
// read (one full read), the socket is paused until the next turn of the loop (setImmediate), when
// it resumes unless something else (backpressure, a speed limit) holds it. Measured against 256 KiB:
// half the wait beside a bulk transfer, and no loss of throughput (docs/benchmarks.md).
//
// A yield costs a pause and a resume (two epoll changes and a loop turn) per 64 KiB, so a reader
// yields only while others wait for the loop: a lone stream then takes 20-30 % less CPU per GB
// (docs/benchmarks.md, session 8).

/** Bytes a socket may deliver before it yields the loop for one turn: one full 64 KiB read. */
export const YIELD_BYTES = 64 * 1024;

interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

export interface ReadYieldOptions {
  /** Whether anything else holds the source paused now (then the yield does not resume it). */
  heldElsewhere?: () => boolean;
  /** Whether other work may be waiting for the loop now; without it the reader does not yield. */
  othersWaiting?: () => boolean;
}

const never = () => false;
const always = () => true;

export class ReadYield {
  readonly #source: Pausable;
  readonly #heldElsewhere: () => boolean;
  readonly #othersWaiting: () => boolean;
  #bytes = 0;
  #yielding = false;
  #stopped = false;
  readonly #resume = () => {
    this.#yielding = false;
    if (!this.#stopped && !this.#heldElsewhere()) this.#source.resume();
  };

  constructor(source: Pausable, options: ReadYieldOptions = {}) {
    this.#source = source;
    this.#heldElsewhere = options.heldElsewhere ?? never;
    this.#othersWaiting = options.othersWaiting ?? always;
  }

  /** True while the source is paused for a yield: other holders must not resume it. */
  get yielding(): boolean {
    return this.#yielding;
  }

  /**
   * Counts `bytes` just read; once YIELD_BYTES have gone by, pauses the source for one turn if
   * others wait for the loop.
   */
  read(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes < YIELD_BYTES || this.#yielding || this.#stopped) return;
    this.#bytes = 0;
    if (!this.#othersWaiting()) return;
    this.#yielding = true;
    this.#source.pause();
    setImmediate(this.#resume);
  }

  /** The source is done: a pending yield resumes nothing. */
  stop(): void {
    this.#stopped = true;
  }
}
