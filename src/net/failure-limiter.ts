// Counts failed authentications per remote address in fixed windows and says when an address
// has failed too often, so a key-guessing client is turned away before it costs a handshake.
// An IPv6 address counts for its whole /64 (see failureKey). Memory is bounded: past
// `maxAddresses` keys the oldest entries are dropped.

import { formatIp, networkOf, parseIp, unmapIpv4 } from './ip-address.ts';

/**
 * The smallest block an IPv6 host is handed (SLAAC works on /64s): whoever holds one address can
 * use any of its 2^64, so counting exact addresses would give a guesser a fresh count per attempt.
 */
const IPV6_BLOCK = 64;

/**
 * What failures of `remote` are counted under: an IPv4 address as itself (also when a dual-stack
 * socket reports it as ::ffff:a.b.c.d), an IPv6 address as its /64 ("2001:db8:1:2::/64", however
 * the address was written, zone dropped). Anything else (a key such as "user:alice") unchanged.
 */
export function failureKey(remote: string): string {
  const parsed = parseIp(remote);
  if (!parsed) return remote;
  const address = unmapIpv4(parsed);
  if (address.family === 4) return formatIp(address);
  return `${formatIp(networkOf(address, IPV6_BLOCK))}/${IPV6_BLOCK}`;
}

export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  /** Keys (IPv4 addresses, IPv6 /64s, other keys) tracked at once; default 10,000. */
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

  #current(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && this.#now() - entry.windowStart >= this.#windowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** True when `address` (its failureKey) has used up its failures for the current window. */
  blocked(address: string): boolean {
    return (this.#current(failureKey(address))?.failures ?? 0) >= this.#max;
  }

  fail(address: string): void {
    const key = failureKey(address);
    const entry = this.#current(key);
    if (entry) {
      entry.failures++;
      return;
    }
    if (this.#entries.size >= this.#maxAddresses) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { failures: 1, windowStart: this.#now() });
  }

  get size(): number {
    return this.#entries.size;
  }
}
