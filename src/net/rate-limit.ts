// Speed limits shared by many connections. A RateLimit is one budget (a license's uploads, say):
// every connection under it counts what it reads, and a reader that overdraws pauses until the
// debt is repaid; then every waiting reader resumes at once, in the order they paused, so
// connections sharing a budget take turns chunk by chunk. A Throttle is the budgets one
// connection direction answers to (its mapping's and its license's): it may go on only when
// all of them can pay.

import { TokenBucket } from './token-bucket.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

export class RateLimit {
  #bucket: TokenBucket | undefined;
  /** Insertion-ordered: the first to pause is the first to resume. */
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  readonly #now: () => number;

  /** `rate` in bytes per second; null is unlimited. `now` in milliseconds (tests pass a fake). */
  constructor(rate: number | null = null, now: () => number = () => performance.now()) {
    this.#now = now;
    this.setRate(rate);
  }

  get limited(): boolean {
    return this.#bucket !== undefined;
  }

  get rate(): number | null {
    return this.#bucket?.rate ?? null;
  }

  /**
   * Applies at once to every connection under this limit, including those waiting now. A rate
   * below 1 byte per second counts as 1; one that is not a number below infinity as unlimited.
   */
  setRate(bytesPerSecond: number | null): void {
    const rate = bytesPerSecond === null || !(bytesPerSecond < Infinity) ? null : Math.max(1, bytesPerSecond);
    if (rate === null) {
      this.#bucket = undefined;
      this.#wakeAll();
      return;
    }
    if (this.#bucket?.rate === rate) return;
    if (this.#bucket) this.#bucket.setRate(rate, this.#now());
    else this.#bucket = new TokenBucket(rate, this.#now());
    if (this.#waiters.size > 0) this.#schedule();
  }

  /** Counts `bytes` read; false when the budget is overdrawn and the reader should wait(). */
  take(bytes: number): boolean {
    const bucket = this.#bucket;
    return bucket === undefined || bucket.take(bytes, this.#now());
  }

  inDebt(): boolean {
    const bucket = this.#bucket;
    return bucket !== undefined && bucket.balance(this.#now()) < 0;
  }

  /** Calls `wake` (later, never from inside this call) once the debt is repaid. Returns a cancel. */
  wait(wake: () => void): () => void {
    this.#waiters.add(wake);
    if (this.#timer === undefined) this.#schedule();
    return () => {
      this.#waiters.delete(wake);
      if (this.#waiters.size === 0) this.#clearTimer();
    };
  }

  /** Wakes whoever waits and stops the timer (the owner is going away). */
  close(): void {
    this.#wakeAll();
  }

  #schedule(): void {
    this.#clearTimer();
    // Longer than a timer can wait (a huge debt at a tiny rate): wake up and look again.
    const ms = Math.min(this.#bucket?.waitMs(this.#now()) ?? 0, MAX_TIMER_MS);
    this.#timer = setTimeout(() => this.#onTimer(), ms);
    // The connections keep the process alive, not a limit's bookkeeping.
    this.#timer.unref();
  }

  #onTimer(): void {
    this.#timer = undefined;
    const bucket = this.#bucket;
    if (bucket !== undefined && bucket.waitMs(this.#now()) > 0) this.#schedule();
    else this.#wakeAll();
  }

  #wakeAll(): void {
    this.#clearTimer();
    if (this.#waiters.size === 0) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export class Throttle {
  readonly #limits: readonly RateLimit[];

  constructor(limits: readonly RateLimit[]) {
    this.#limits = limits;
  }

  /** False while none of the limits is set: the reader need not count anything. */
  get active(): boolean {
    // Asked for every chunk: an indexed loop, nothing allocated.
    const limits = this.#limits;
    for (let i = 0; i < limits.length; i++) if (limits[i]?.limited) return true;
    return false;
  }

  /** Counts `bytes` against every limit; false when any is overdrawn and the reader should wait(). */
  take(bytes: number): boolean {
    let ok = true;
    for (const limit of this.#limits) if (!limit.take(bytes)) ok = false;
    return ok;
  }

  /** True while any limit is overdrawn: a UDP session drops what it would otherwise forward now. */
  inDebt(): boolean {
    for (const limit of this.#limits) if (limit.inDebt()) return true;
    return false;
  }

  /** Calls `resume` once no limit is in debt (later, never from inside this call). Returns a cancel. */
  wait(resume: () => void): () => void {
    let cancel: (() => void) | undefined;
    let cancelled = false;
    const step = () => {
      cancel = undefined;
      if (cancelled) return;
      for (const limit of this.#limits) {
        if (limit.inDebt()) {
          cancel = limit.wait(step);
          return;
        }
      }
      resume();
    };
    const first = this.#limits.find((limit) => limit.inDebt());
    if (first) cancel = first.wait(step);
    else queueMicrotask(step);
    return () => {
      cancelled = true;
      cancel?.();
      cancel = undefined;
    };
  }
}
