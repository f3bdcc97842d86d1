// Memory-reducing garbage collection for the long-running commands. Start-up (loading the code,
// parsing the configuration, opening the store, generating a certificate on the first start) and
// every burst of visitors grow V8's heap, its young generation most of all; a process that then
// goes quiet never collects again, so without this that memory stays resident for good
// (docs/benchmarks.md, "Idle memory"). Node exposes no collection API without --expose-gc;
// setting the flag at run time gives `gc` to new contexts only, so the main context's globals do
// not change.

import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let collect: Collect | undefined;

/** Collects all garbage and shrinks the heap (young generation included). Takes tens of ms. */
export function compactHeap(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as Collect;
  }
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** What IdleCompactor looks at and does; tests give their own. */
export interface HeapProbe {
  /** Share of the time since the previous call that the event loop was busy, 0..1. */
  busy(): number;
  /** Bytes of memory the JavaScript heap holds now. */
  heapBytes(): number;
  compact(): void;
}

export interface IdleCompactorOptions {
  /** How often it looks (default 500 ms). */
  intervalMs?: number;
  /** Busy share below which the process counts as quiet (default 0.02). */
  quietBelow?: number;
  /** Heap growth since the last compaction that is worth a collection (default 4 MiB). */
  growthBytes?: number;
  probe?: HeapProbe;
}

/**
 * Compacts the heap when the process has been quiet for a whole interval after its heap grew:
 * after start-up, and after a burst of visitors or a bulk transfer. A busy process is left to V8.
 */
export class IdleCompactor {
  readonly #probe: HeapProbe;
  readonly #quietBelow: number;
  readonly #growthBytes: number;
  readonly #timer: NodeJS.Timeout;
  #baseline: number;

  constructor(o: IdleCompactorOptions = {}) {
    this.#probe = o.probe ?? processProbe();
    this.#quietBelow = o.quietBelow ?? 0.02;
    this.#growthBytes = o.growthBytes ?? 4 * 1024 * 1024;
    this.#probe.busy(); // starts the first interval
    this.#baseline = this.#probe.heapBytes();
    this.#timer = setInterval(() => this.#check(), o.intervalMs ?? 500).unref();
  }

  #check(): void {
    const quiet = this.#probe.busy() < this.#quietBelow;
    if (!quiet || this.#probe.heapBytes() - this.#baseline < this.#growthBytes) return;
    this.#probe.compact();
    this.#probe.busy(); // the collection itself is not activity
    this.#baseline = this.#probe.heapBytes();
  }

  /** Stops looking. Idempotent. */
  close(): void {
    clearInterval(this.#timer);
  }
}

function processProbe(): HeapProbe {
  let last = performance.eventLoopUtilization();
  return {
    busy() {
      const now = performance.eventLoopUtilization();
      const share = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return share;
    },
    heapBytes: () => getHeapStatistics().total_physical_size,
    compact: compactHeap,
  };
}
