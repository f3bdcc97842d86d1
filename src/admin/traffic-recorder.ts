// Collects the tunnel's traffic reports in memory and hands them to a sink (the store) in
// batches: every `intervalMs`, and once more on close() so a clean stop loses nothing; a crash
// loses what arrived since the last flush. Each report goes to exactly one flush (the sink adds
// to what the store holds), and a failed flush keeps its counts for the next attempt. Totals are
// bigint: never rounded.

import type { Logger } from '../log.ts';
import type { LicenseRecord, MappingRecord } from '../server/directory.ts';

export interface TrafficEntry {
  licenseId: string;
  mappingId: string;
  bytesIn: bigint;
  bytesOut: bigint;
}

export type TrafficSink = (entries: TrafficEntry[], at: Date) => Promise<void>;

export class TrafficRecorder {
  readonly #sink: TrafficSink;
  readonly #log: Logger;
  #pending = new Map<string, TrafficEntry>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();
  /** True from a timer tick's flush until it ends. */
  #ticking = false;
  #closed: Promise<void> | undefined;

  constructor(sink: TrafficSink, options: { intervalMs: number; logger: Logger }) {
    this.#sink = sink;
    this.#log = options.logger;
    this.#timer = setInterval(() => this.#tick(), options.intervalMs);
    this.#timer.unref();
  }

  /**
   * A tick that finds the previous one's flush still running (a slow or unreachable store) is
   * skipped rather than queued behind it: the next tick takes everything pending anyway, and a
   * short interval must not pile up attempts while the store hangs.
   */
  #tick(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    void this.flush().finally(() => {
      this.#ticking = false;
    });
  }

  /** The TunnelObserver method: adds a report to the pending totals. */
  traffic = (license: LicenseRecord, mapping: MappingRecord, bytesIn: number, bytesOut: number): void => {
    const key = `${license.id}\n${mapping.id}`;
    const entry = this.#pending.get(key);
    if (entry) {
      entry.bytesIn += BigInt(bytesIn);
      entry.bytesOut += BigInt(bytesOut);
    } else {
      this.#pending.set(key, {
        licenseId: license.id,
        mappingId: mapping.id,
        bytesIn: BigInt(bytesIn),
        bytesOut: BigInt(bytesOut),
      });
    }
  };

  /** Totals not yet handed to the sink. */
  get pending(): TrafficEntry[] {
    return [...this.#pending.values()];
  }

  /** Hands the pending totals to the sink; one flush at a time, in order. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      await this.#sink([...batch.values()], new Date());
    } catch (error) {
      // Put the counts back (merged with what arrived meanwhile) for the next attempt.
      for (const [key, entry] of batch) {
        const newer = this.#pending.get(key);
        if (newer) {
          newer.bytesIn += entry.bytesIn;
          newer.bytesOut += entry.bytesOut;
        } else {
          this.#pending.set(key, entry);
        }
      }
      this.#log.warn(
        { err: (error as Error).message, entries: batch.size },
        'could not save traffic; will retry',
      );
    }
  }

  /** Stops the timer and flushes what is left. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#timer);
      await this.flush();
    })();
    return this.#closed;
  }
}
