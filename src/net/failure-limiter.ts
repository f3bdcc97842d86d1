// Counts failed authentications per remote address in fixed windows and says when an address
// has failed too often, so a key-guessing client is turned away before it costs a handshake.
// Memory is bounded: past `maxAddresses` the oldest entries are dropped.

export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  maxAddresses?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  windowStart: number;
}

export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: FailureLimiterOptions) {
    this.#max = options.maxFailures;
    this.#windowMs = options.windowMs;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  #current(address: string): Entry | undefined {
    const entry = this.#entries.get(address);
    if (entry && this.#now() - entry.windowStart >= this.#windowMs) {
      this.#entries.delete(address);
      return undefined;
    }
    return entry;
  }

  /** True when `address` has used up its failures for the current window. */
  blocked(address: string): boolean {
    return (this.#current(address)?.failures ?? 0) >= this.#max;
  }

  fail(address: string): void {
    const entry = this.#current(address);
    if (entry) {
      entry.failures++;
      return;
    }
    if (this.#entries.size >= this.#maxAddresses) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(address, { failures: 1, windowStart: this.#now() });
  }

  get size(): number {
    return this.#entries.size;
  }
}
