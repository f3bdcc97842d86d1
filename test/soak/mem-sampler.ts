// Loaded into the soak's `muon server` with `--import` (through NODE_OPTIONS, which the runner
// sets for the server only): every SOAK_MEM_SAMPLE_MS (default 10 s) it writes one line to
// stderr, `soak-mem {…}`, with what the process itself knows about its memory and handles:
// process.memoryUsage() (RSS, JS heap used/total, external, arrayBuffers) and the libuv handles
// alive by kind (TCP sockets, TLS ones included; timers that keep the process alive). It only reads: its interval is unref'd, allocates a
// few small objects per sample, and getActiveResourcesInfo() walks the handle list once.
//
// With SOAK_MEM_GC=1 it also answers SIGUSR2 with a full garbage collection and then a sample
// marked `gc`: what the JS heap and the ArrayBuffers still hold then is what the process keeps,
// not garbage waiting for the next collection (the short soak test asks after each burst).

import { memoryUsage } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What one line carries (MiB, counts); `t` is seconds since the sampler started. */
export interface MemSample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** TCPSocketWrap handles: every TCP socket, TLS or not (listeners are TCPServerWrap). */
  tcp: number;
  /** Timeouts that keep the process alive (unref'd ones, like the heartbeats, are not listed). */
  timers: number;
  /** Taken right after a full garbage collection (on SIGUSR2). */
  gc?: true;
}

export const MEM_PREFIX = 'soak-mem ';

const MiB = 1024 * 1024;
const round = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

function sample(started: number): MemSample {
  const m = memoryUsage();
  const kinds: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) kinds[kind] = (kinds[kind] ?? 0) + 1;
  return {
    t: Math.round((performance.now() - started) / 100) / 10,
    rss: round(m.rss),
    heapUsed: round(m.heapUsed),
    heapTotal: round(m.heapTotal),
    external: round(m.external),
    arrayBuffers: round(m.arrayBuffers),
    tcp: kinds.TCPSocketWrap ?? 0,
    timers: kinds.Timeout ?? 0,
  };
}

/** The samples in a process's stderr (other lines ignored). */
export function parseMemSamples(stderr: string): MemSample[] {
  const samples: MemSample[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith(MEM_PREFIX)) continue;
    try {
      samples.push(JSON.parse(line.slice(MEM_PREFIX.length)) as MemSample);
    } catch {
      // A line still being written.
    }
  }
  return samples;
}

// Only when loaded as the --import of a process that asked for it (not when the runner imports
// parseMemSamples).
const everyMs = Number(process.env.SOAK_MEM_SAMPLE_MS);
if (everyMs > 0) {
  const started = performance.now();
  const write = () => process.stderr.write(`${MEM_PREFIX}${JSON.stringify(sample(started))}\n`);
  setInterval(write, everyMs).unref();
}
if (process.env.SOAK_MEM_GC === '1') {
  const started = performance.now();
  // The usual way to reach gc() without starting node with --expose-gc.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  process.on('SIGUSR2', () => {
    gc();
    process.stderr.write(`${MEM_PREFIX}${JSON.stringify({ ...sample(started), gc: true })}\n`);
  });
}
