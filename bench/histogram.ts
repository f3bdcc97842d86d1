// Fixed-bucket latency histogram (log-linear, 64 sub-buckets per power of two): recording is
// two integer operations and one array increment, no allocation; quantiles are within ~1.6%.

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64
const MAX_NS = 0xffff_ffff; // ~4.29 s; longer latencies are clamped
const BUCKETS = SUB * (32 - SUB_BITS) + SUB; // covers every uint32 value

function bucketOf(ns: number): number {
  const v = ns >= MAX_NS ? MAX_NS : ns < 0 ? 0 : Math.floor(ns);
  if (v < 2 * SUB) return v;
  const shift = 31 - Math.clz32(v) - SUB_BITS;
  return SUB * shift + (v >>> shift);
}

/** Middle of a bucket's value range, in nanoseconds. */
function bucketMiddle(bucket: number): number {
  if (bucket < 2 * SUB) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const mantissa = bucket - SUB * shift;
  return mantissa * 2 ** shift + 2 ** (shift - 1);
}

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #maxNs = 0;

  record(ns: number): void {
    const b = bucketOf(ns);
    this.#counts[b] = (this.#counts[b] ?? 0) + 1;
    this.#count++;
    if (ns > this.#maxNs) this.#maxNs = ns;
  }

  get count(): number {
    return this.#count;
  }

  get maxNs(): number {
    return this.#maxNs;
  }

  /** The latency at quantile q (0..1) in nanoseconds, or NaN when nothing was recorded. */
  quantileNs(q: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b] ?? 0;
      if (seen >= rank) return Math.min(bucketMiddle(b), this.#maxNs);
    }
    return this.#maxNs;
  }
}
