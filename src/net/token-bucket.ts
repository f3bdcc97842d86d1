// A token bucket counting bytes, on a clock the caller passes in (pure: no timers). Readers take
// what they have already read, so the balance may go negative: the debt is repaid by waiting,
// which keeps the average at the rate without ever splitting or holding back a chunk.

/** A full bucket lets this much of a second's worth through at once (after an idle spell). */
const BURST_SECONDS = 0.1;

export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #at: number;

  /** `rate` in bytes per second (> 0); `now` in milliseconds. Starts full. */
  constructor(rate: number, now: number) {
    this.#rate = rate;
    this.#burst = burstOf(rate);
    this.#tokens = this.#burst;
    this.#at = now;
  }

  get rate(): number {
    return this.#rate;
  }

  /** Bytes that may pass now; negative while in debt. */
  balance(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Counts `bytes` as passed; true while the balance stays non-negative (the reader may go on). */
  take(bytes: number, now: number): boolean {
    this.#refill(now);
    this.#tokens -= bytes;
    return this.#tokens >= 0;
  }

  /** Milliseconds until the debt is repaid (0 when there is none). */
  waitMs(now: number): number {
    this.#refill(now);
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.#rate);
  }

  /** From `now` on, refills at `rate`; what accrued before counts at the old rate. Debt is kept. */
  setRate(rate: number, now: number): void {
    this.#refill(now);
    this.#rate = rate;
    this.#burst = burstOf(rate);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  #refill(now: number): void {
    // A clock that steps back (or a repeated instant) adds nothing rather than taking away.
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
      this.#at = now;
    }
  }
}

function burstOf(rate: number): number {
  return Math.max(1, rate * BURST_SECONDS);
}
