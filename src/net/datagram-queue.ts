// Datagrams held while a UDP session is being set up (the server waits for a proxy channel, the
// client for its socket towards the target). Bounded in count and bytes: a busy sender beyond
// the bound loses datagrams, as it would on a congested network, rather than growing memory.

/** Defaults: enough for a burst of queries, small enough that many pending sessions stay cheap. */
export const PENDING_DATAGRAMS = 64;
export const PENDING_BYTES = 128 * 1024;

export class DatagramQueue {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #items: Buffer[] = [];
  #bytes = 0;
  #dropped = 0;

  constructor(maxCount = PENDING_DATAGRAMS, maxBytes = PENDING_BYTES) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Datagrams refused so far because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Keeps `datagram`, or drops it (false) when that would pass either bound. */
  push(datagram: Buffer): boolean {
    if (this.#items.length >= this.#maxCount || this.#bytes + datagram.length > this.#maxBytes) {
      this.#dropped++;
      return false;
    }
    this.#items.push(datagram);
    this.#bytes += datagram.length;
    return true;
  }

  /** Everything kept, oldest first; the queue is empty afterwards. */
  drain(): Buffer[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}
