// Ends a TCP session that has gone quiet: no byte in either direction for `idleMs`, or for
// `halfClosedMs` once either side has half-closed. Unlike a UDP session's IdleTimer, nothing is
// touched per chunk: the relay already keeps running byte counts, and this watch reads them on a
// coarse timer (a quarter of the timeout that applies), so the data path pays no clock read, no
// timer reset and no allocation. A session is ended after at least its timeout of silence and
// at most a quarter more. While no timeout applies (a full-open session without `idleMs`) no
// timer runs at all.

export interface StreamIdleLimits {
  /** Silence allowed once either side has half-closed (its END forwarded). */
  halfClosedMs: number;
  /** Silence allowed at any time; undefined: none (only the half-closed limit applies). */
  idleMs?: number | undefined;
}

/** Checks per timeout: the bound on lateness is the timeout divided by this. */
export const CHECKS_PER_TIMEOUT = 4;

export class StreamIdleWatch {
  readonly #limits: StreamIdleLimits;
  /** Bytes moved so far in either direction; only compared, so any running total does. */
  readonly #moved: () => number;
  readonly #onIdle: (timeoutMs: number) => void;
  /** The timeout that applies now, if any. */
  #timeoutMs: number | undefined;
  #lastMoved: number;
  /** When the last change of #moved was seen (at a check, so never after the bytes moved). */
  #quietSince = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /**
   * Starts watching at once (the session's state so far counts as activity). `onIdle` is called
   * at most once, with the timeout that was exceeded; the watch is stopped then.
   */
  constructor(
    limits: StreamIdleLimits,
    halfClosed: boolean,
    moved: () => number,
    onIdle: (timeoutMs: number) => void,
  ) {
    this.#limits = limits;
    this.#moved = moved;
    this.#onIdle = onIdle;
    this.#lastMoved = moved();
    this.#apply(halfClosed ? shorter(limits.halfClosedMs, limits.idleMs) : limits.idleMs);
  }

  /** A side half-closed: the half-closed limit applies from now on (the END counts as activity). */
  halfClosed(): void {
    if (this.#stopped) return;
    const timeoutMs = shorter(this.#limits.halfClosedMs, this.#limits.idleMs);
    if (timeoutMs === this.#timeoutMs) return;
    this.#quietSince = Date.now();
    this.#lastMoved = this.#moved();
    this.#apply(timeoutMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #apply(timeoutMs: number | undefined): void {
    this.#timeoutMs = timeoutMs;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#arm();
  }

  #arm(): void {
    if (this.#timeoutMs === undefined) return;
    const period = Math.max(1, Math.ceil(this.#timeoutMs / CHECKS_PER_TIMEOUT));
    this.#timer = setTimeout(this.#check, period);
    // Sessions keep the process alive through their sockets, not through this bookkeeping.
    this.#timer.unref();
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    const timeoutMs = this.#timeoutMs;
    if (this.#stopped || timeoutMs === undefined) return;
    const moved = this.#moved();
    const now = Date.now();
    if (moved !== this.#lastMoved) {
      this.#lastMoved = moved;
      this.#quietSince = now;
    } else if (now - this.#quietSince >= timeoutMs) {
      this.stop();
      this.#onIdle(timeoutMs);
      return;
    }
    this.#arm();
  };
}

function shorter(a: number, b: number | undefined): number {
  return b === undefined ? a : Math.min(a, b);
}
