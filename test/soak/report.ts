// The soak run's figures as text for an operator: what was run, errors by kind, each burst,
// the server's memory over time and its slope, fairness across clients, and CPU time.

import type { Counts } from './client-fleet.ts';
import { type Point, slopePerMinute } from './proc-stats.ts';
import type { SoakResult } from './run-soak.ts';
import type { ClientTally } from './visitors.ts';

export interface Spread {
  min: number;
  median: number;
  max: number;
  /** Index of the client with the smallest and the largest value. */
  minAt: number;
  maxAt: number;
}

/** Min, median and max of one value per client, ignoring clients without one (NaN). */
export function spread(values: readonly number[]): Spread {
  const known = values.map((v, i) => ({ v, i })).filter((e) => !Number.isNaN(e.v));
  const sorted = [...known].sort((a, b) => a.v - b.v);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  return {
    min: first?.v ?? Number.NaN,
    median: sorted[Math.floor(sorted.length / 2)]?.v ?? Number.NaN,
    max: last?.v ?? Number.NaN,
    minAt: first?.i ?? -1,
    maxAt: last?.i ?? -1,
  };
}

export interface Fairness {
  /** Visitors served; clients get different numbers when a burst is not a multiple of the clients. */
  served: Spread;
  /** Percentage of the client's own visitors that were served. */
  servedShare: Spread;
  /** Round trips per second of hold time, summed over the client's visitors. */
  roundTripsPerSecond: Spread;
  setupP50: Spread;
  setupP99: Spread;
  roundTripP50: Spread;
  roundTripP99: Spread;
}

export function fairness(result: SoakResult): Fairness {
  const holdSeconds = (result.bursts.length * result.options.holdMs) / 1000;
  const per = (f: (t: ClientTally) => number) => spread(result.tallies.map(f));
  return {
    served: per((t) => t.served),
    servedShare: per((t) => (100 * t.served) / (t.served + t.failed)),
    roundTripsPerSecond: per((t) => t.roundTrips / holdSeconds),
    setupP50: per((t) => t.setup.percentile(50)),
    setupP99: per((t) => t.setup.percentile(99)),
    roundTripP50: per((t) => t.roundTrip.percentile(50)),
    roundTripP99: per((t) => t.roundTrip.percentile(99)),
  };
}

function fixed(n: number, digits = 1): string {
  return Number.isNaN(n) ? '-' : n.toFixed(digits);
}

function thousands(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function countsText(counts: Counts, none: string): string[] {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0
    ? [`  ${none}`]
    : entries.map(([what, n]) => `  ${String(n).padStart(7)}  ${what}`);
}

function pad(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 8)).join(' ');
}

/** At most `n` points spread evenly over `points`, first and last included. */
function thin<T>(points: readonly T[], n: number): T[] {
  if (points.length <= n) return [...points];
  return Array.from({ length: n }, (_, i) => points[Math.round((i * (points.length - 1)) / (n - 1))] as T);
}

export function formatReport(r: SoakResult): string {
  const o = r.options;
  const lines: string[] = [];
  const visitors = r.bursts.reduce((sum, b) => sum + b.visitors, 0);
  const failed = r.bursts.reduce((s, b) => s + b.failed, 0);
  const roundTrips = r.bursts.reduce((s, b) => s + b.roundTrips, 0);
  const served = r.tallies.reduce((s, t) => s + t.served, 0);
  const env = Object.entries(o.serverEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  lines.push(
    `Muon soak, ${r.startedAt}: ${o.clients} clients in ${o.fleets} process(es), ${o.visitors} visitors per burst${o.rampBursts > 1 ? ` (reached in ${o.rampBursts} bursts)` : ''}, ` +
      `${fixed(o.durationMs / 60_000, 2)} min, hold ${o.holdMs} ms, pause ${o.pauseMs} ms, ${o.messageBytes}-byte messages, minIdle ${o.minIdle}`,
    `tunnel: ${o.plain ? 'plain TCP' : 'TLS'}; server YAML: ${(o.serverYaml ?? []).join(' ') || 'defaults'}; ` +
      `server environment: ${env.join(' ') || 'as the runner'}`,
    `machine: ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}; open files ${r.machine.fileLimit.soft} ` +
      `(soft) / ${r.machine.fileLimit.hard} (hard); load average ${fixed(r.load.before, 2)} before, ${fixed(r.load.after, 2)} after`,
    `setup: server ready and every client online after ${fixed(r.startupMs / 1000)} s`,
    '',
    `visitors: ${thousands(visitors)} in ${r.bursts.length} bursts over ${fixed(r.cpu.wall)} s ` +
      `(${fixed(visitors / r.cpu.wall)} per s); served ${thousands(served)}, failed ${thousands(failed)}; ` +
      `${thousands(roundTrips)} round trips in the holds`,
    'errors (load phase):',
    ...countsText(r.errors, 'none'),
    'warnings while the clients connected (before the load):',
    ...countsText(r.startupNotes, 'none'),
    '',
    'bursts (ms; fds while every visitor was open; server RSS once every visitor was gone):',
  );
  const widths = [4, 7, 11, 7, 7, 8, 8, 8, 8, 7, 7, 8, 8, 8, 8, 8];
  const header = ['#', 'at s', 'open', 'failed', 'active', 'open ms', 'setup50', 'setup99', 'rtrips'];
  // With gcAfterBursts: the server's JS heap used and external memory right after a full GC.
  lines.push(
    pad([...header, 'close', 'settle', 'srv fds', 'fds aft', 'RSS MiB', 'gc heap', 'gc ext'], widths),
  );
  for (const b of r.bursts) {
    lines.push(
      pad(
        [
          b.n,
          fixed(b.at),
          `${b.open}/${b.visitors}`,
          b.failed,
          b.activeGauge,
          Math.round(b.openMs),
          Math.round(b.setup.percentile(50)),
          Math.round(b.setup.percentile(99)),
          b.roundTrips,
          Math.round(b.closeMs),
          Math.round(b.settleMs),
          b.serverFds,
          b.serverFdsAfter,
          fixed(b.serverRssAfter),
          fixed(b.afterGc?.heapUsed ?? Number.NaN),
          fixed(b.afterGc?.external ?? Number.NaN),
        ],
        widths,
      ),
    );
  }
  const openTimes = r.bursts.map((b) => b.openMs);
  const openSpread = spread(openTimes);
  lines.push(
    `open time per burst: min ${Math.round(openSpread.min)} ms, median ${Math.round(openSpread.median)} ms, max ${Math.round(openSpread.max)} ms`,
    `peak file descriptors: server ${Math.max(...r.bursts.map((b) => b.serverFds))}, fleets ${Math.max(...r.bursts.map((b) => b.fleetFds))}; ` +
      `server before the first burst ${r.serverFdsBefore}, after the last ${r.serverFdsAfter}`,
    '',
  );

  const rssValues = r.serverRss.map((p) => p.value);
  const first = r.bursts[0];
  const last = r.bursts[r.bursts.length - 1];
  lines.push(
    `server RSS (MiB): ${fixed(r.serverRssBaseline)} before the first burst; sampled every ${o.sampleMs} ms: ` +
      `min ${fixed(Math.min(...rssValues))}, max ${fixed(Math.max(...rssValues))}`,
    `  over time: ${thin(r.serverRss, 13)
      .map((p) => `${Math.round(p.t)} s ${fixed(p.value)}`)
      .join(', ')}`,
    `  after burst 1: ${fixed(first?.serverRssAfter ?? Number.NaN)}, after the last: ${fixed(last?.serverRssAfter ?? Number.NaN)} ` +
      `(${fixed(first && last ? (100 * (last.serverRssAfter - first.serverRssAfter)) / first.serverRssAfter : Number.NaN)} %)`,
    `  slope after warm-up (from ${fixed(r.slope.fromSecond)} s): ${fixed(r.slope.afterBursts, 2)} MiB/min after each burst, ` +
      `${fixed(r.slope.samples, 2)} MiB/min over all samples`,
    `client fleet RSS (MiB, all fleets): ${thin(r.fleetRss, 7)
      .map((p) => `${Math.round(p.t)} s ${fixed(p.value)}`)
      .join(', ')}`,
    '',
    ...memoryLines(r),
  );

  const f = fairness(r);
  const row = (name: string, s: Spread, digits: number) =>
    `  ${name.padEnd(26)} ${fixed(s.min, digits).padStart(9)} ${fixed(s.median, digits).padStart(9)} ${fixed(s.max, digits).padStart(9)}` +
    `   (client ${s.minAt} / ${s.maxAt})`;
  lines.push(
    `fairness across ${o.clients} clients:          min    median       max`,
    row('visitors served', f.served, 0),
    row('  % of its visitors', f.servedShare, 1),
    row('round trips per s', f.roundTripsPerSecond, 1),
    row('setup p50 (ms)', f.setupP50, 1),
    row('setup p99 (ms)', f.setupP99, 1),
    row('round trip p50 (ms)', f.roundTripP50, 2),
    row('round trip p99 (ms)', f.roundTripP99, 2),
    `  lowest round-trip rate is ${fixed((100 * f.roundTripsPerSecond.min) / f.roundTripsPerSecond.median, 0)} % of the median`,
    '',
  );

  const c = r.cpu;
  const ours = c.server + c.fleets + c.echo + c.runner;
  lines.push(
    `CPU seconds over ${fixed(c.wall)} s of load: server ${fixed(c.server)} (${fixed((100 * c.server) / c.wall, 0)} % of a core), ` +
      `client fleets ${fixed(c.fleets)}, echo target ${fixed(c.echo)}, visitors (runner) ${fixed(c.runner)}`,
    `  the machine was busy ${fixed(c.machine)} CPU s in all: ${fixed(Math.max(0, c.machine - ours))} s of it other work ` +
      `(${fixed((100 * Math.max(0, c.machine - ours)) / c.machine, 0)} %)`,
    `shutdown: the server exited with code ${r.shutdown.code} ${Math.round(r.shutdown.ms)} ms after SIGTERM`,
  );
  return lines.join('\n');
}

/** The server's own memory samples (mem-sampler.ts), if it was loaded. */
function memoryLines(r: SoakResult): string[] {
  const samples = r.serverMemory.map((m) => ({ ...m, t: m.t - r.serverMemoryOffset }));
  if (samples.length === 0) return [];
  const parts = r.serverRssParts;
  const widths = [7, 8, 8, 8, 8, 8, 9, 7, 7];
  const lines = [
    `server memory as it reports it (MiB; every ${r.options.memSampleMs} ms; t from the first burst; ` +
      'off-heap = RSS − JS heap committed):',
    pad(['t s', 'RSS', 'heap', 'heapTot', 'off-heap', 'external', 'arrayBuf', 'sockets', 'timers'], widths),
  ];
  for (const m of thin(samples, 24)) {
    lines.push(
      pad(
        [
          fixed(m.t, 0),
          fixed(m.rss),
          fixed(m.heapUsed),
          fixed(m.heapTotal),
          fixed(m.rss - m.heapTotal),
          fixed(m.external),
          fixed(m.arrayBuffers),
          m.tcp,
          m.timers,
        ],
        widths,
      ),
    );
  }
  const warm = samples.filter((m) => m.t >= r.slope.fromSecond);
  const slope = (value: (m: (typeof samples)[number]) => number) =>
    fixed(slopePerMinute(warm.map((m): Point => ({ t: m.t, value: value(m) }))), 2);
  lines.push(
    `  slopes from ${fixed(r.slope.fromSecond)} s (MiB/min): RSS ${slope((m) => m.rss)}, heap used ${slope((m) => m.heapUsed)}, ` +
      `heap committed ${slope((m) => m.heapTotal)}, off-heap ${slope((m) => m.rss - m.heapTotal)}, external ${slope((m) => m.external)}`,
  );
  if (parts.length > 0) {
    lines.push(
      `  RSS by mapping (MiB; brk = glibc's main arena, anon = V8 heap, other arenas, big chunks): ${thin(
        parts,
        12,
      )
        .map(
          (p) =>
            `${Math.round(p.t)} s ${fixed(p.brk, 0)}/${fixed(p.anon, 0)}/${fixed(p.file, 0)}/${p.mappings}`,
        )
        .join(', ')} (brk/anon/file MiB/mappings)`,
    );
  }
  // malloc_stats() output (soak.ts --malloc-stats) is summed up by soak.ts itself.
  const other = r.serverStderr
    .split('\n')
    .filter((l) => l.trim() && !/^(Arena \d+:|Total \(incl|system bytes|in use bytes|max mmap)/.test(l));
  if (other.length > 0) lines.push('server stderr (other than samples):', ...other);
  lines.push('');
  return lines;
}
