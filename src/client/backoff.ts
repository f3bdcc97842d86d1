// Reconnect delays: exponential growth with "equal jitter" (half fixed, half random), so a
// restarted server is not hit by every client at the same instant, and never below `initial/2`.

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(initialMs: number, maxMs: number, random: () => number = Math.random) {
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#random = random;
  }

  /** The delay before the next attempt; each call grows the ceiling. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  /** Makes the next delay the largest (after being replaced by another client). */
  toMax(): void {
    this.#attempt = 31;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
