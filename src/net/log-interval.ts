// Lets one log line through per interval and counts the events held back in between, so a flood
// (thousands of refused visitors a second) costs one line per interval that says how many.

export class LogInterval {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = Number.NEGATIVE_INFINITY;
  #count = 0;

  constructor(intervalMs: number, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Counts one event. Returns how many events the line now due stands for (this one and those
   * held back since the last line), or undefined when the line should be held back.
   */
  note(): number | undefined {
    this.#count++;
    const now = this.#now();
    if (now - this.#last < this.#intervalMs) return undefined;
    this.#last = now;
    const count = this.#count;
    this.#count = 0;
    return count;
  }
}
