// How big the sessions of each mapping are: the bytes (both ways) of its recent sessions,
// averaged with the newest weighing a quarter. A raw session uses its pooled channel up (the
// client opens another: over TLS a new handshake, some 3 ms of CPU on the two sides together)
// and pays that back only on a big transfer; so raw sessions go to the visitors of mappings whose
// sessions are big, and to a mapping's first visitors, before anything is known of it
// (`limits.rawSessionMinBytes`; docs/architecture.md, "Raw sessions and the kernel relay"). One
// per client session: a number for each mapping its visitors used.

/** The weight of the newest session in the average. */
const NEWEST = 0.25;

export class SessionSizes {
  readonly #minBytes: number;
  readonly #average = new Map<string, number>();

  /** `minBytes`: the average at which a mapping's visitors get raw sessions (0: always). */
  constructor(minBytes: number) {
    this.#minBytes = minBytes;
  }

  /** A session of mapping `mappingId` ended after moving `bytes` both ways together. */
  record(mappingId: string, bytes: number): void {
    const average = this.#average.get(mappingId);
    this.#average.set(mappingId, average === undefined ? bytes : average + NEWEST * (bytes - average));
  }

  /** Whether the mapping's sessions are big enough for raw sessions; a mapping not seen yet is. */
  big(mappingId: string): boolean {
    return (this.#average.get(mappingId) ?? Number.POSITIVE_INFINITY) >= this.#minBytes;
  }
}
