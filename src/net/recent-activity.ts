// Which of several movers (streams, sessions) moved data most recently, and when any other one
// last did: enough to tell whether a mover has company, in constant time per move. Used per
// carrier (streams sharing its queue) and once per process (sessions sharing its event loop).

/** How recently another mover must have moved data to count as company. */
export const ACTIVE_MS = 1000;

export class RecentActivity {
  readonly #now: () => number;
  /** Held until another mover moves data: one finished session's relay at most. */
  #last: unknown;
  #lastAt = Number.NEGATIVE_INFINITY;
  /** When a mover other than #last last moved data. */
  #otherAt = Number.NEGATIVE_INFINITY;

  /** `now` is a monotonic clock in milliseconds: a wall clock set back would look like activity. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** `mover` moved data now. */
  note(mover: unknown): void {
    if (mover !== this.#last) {
      this.#otherAt = this.#lastAt;
      this.#last = mover;
    }
    this.#lastAt = this.#now();
  }

  /** Whether a mover other than `mover` moved data within ACTIVE_MS of the latest move. */
  othersActive(mover: unknown): boolean {
    const other = mover === this.#last ? this.#otherAt : this.#lastAt;
    return this.#lastAt - other < ACTIVE_MS;
  }

  /** Whether at least two movers moved data within ACTIVE_MS of the latest move. */
  shared(): boolean {
    return this.othersActive(this.#last);
  }
}

/** The process's sessions: whether one of them moving data now has others waiting for the loop. */
export const sessionActivity = new RecentActivity();
