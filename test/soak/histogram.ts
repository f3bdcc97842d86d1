// A latency histogram for the soak suite: log-spaced buckets (4 % apart), so millions of samples
// cost a few hundred counters, and histograms of several visitors or bursts merge by addition.

const GROWTH = 1.04;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets up to ~10 minutes in microseconds. */
const BUCKETS = Math.ceil(Math.log(600e6) / LOG_GROWTH) + 1;

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  #sum = 0;

  /** Records one duration in milliseconds. */
  add(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const index = Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_GROWTH));
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.count++;
    this.#sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] = (this.#counts[i] ?? 0) + (other.#counts[i] ?? 0);
    this.count += other.count;
    this.#sum += other.#sum;
    this.max = Math.max(this.max, other.max);
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.#sum / this.count;
  }

  /** The `p`-th percentile (0–100) in milliseconds, to within one bucket (4 %); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      // The bucket's upper edge, but never above the largest value seen.
      if (seen >= rank) return Math.min(this.max, GROWTH ** (i + 1) / 1000);
    }
    return this.max;
  }
}
