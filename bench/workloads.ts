// The benchmark's workloads, each run against one endpoint (the target directly, Muon's public
// ports, or a peer tunnel's): memory, time to first byte, keep-alive request/response, new
// connection per request and bulk transfer, each from a load-generator process; then the peer
// tools' workloads (peer-tools.ts) when they are installed.

import { join } from 'node:path';
import { type Child, parseJsonLine, spawnNode } from './child.ts';
import type { LoadWorkload } from './load.ts';
import { pooledChannels, type ServicePorts } from './muon.ts';
import { iperf3Workload, wrkWorkload } from './peer-tools.ts';
import type { PeerPorts } from './peers.ts';
import { RssPeakSampler, totalCpuSeconds, totalRssBytes } from './proc.ts';
import { absolute, atLeastOfDirect, type Figure, type Goal, type Mode } from './report.ts';

export const WORKLOADS = ['memory', 'ttfb', 'rr', 'connect', 'bulk', 'mixed', 'iperf3', 'wrk'] as const;
export type Workload = (typeof WORKLOADS)[number];
/** Workloads that need a peer tool installed. */
export const PEER_WORKLOADS: readonly Workload[] = ['iperf3', 'wrk'];

const LOAD = join(import.meta.dirname, 'load.ts');
const ROOT = join(import.meta.dirname, '..');

export interface Settings {
  quick: boolean;
  warmupMs: number;
  durationMs: number;
  connections: number;
  ttfbCount: number;
  /** Idle visitor connections held for the memory figures (--visitors). */
  visitors: number;
}

/** What one mode's workloads talk to. */
export interface Endpoint {
  mode: Mode;
  ports: ServicePorts;
  /** Ports in front of the peer tools' servers (iperf3 -s, the HTTP target). */
  peerPorts: PeerPorts;
  /**
   * PIDs whose memory and CPU are measured, summed per side: the tunnel's server side (Muon's
   * server, or sshd's processes) and client side, or the target process on both for direct.
   */
  server: readonly number[];
  client: readonly number[];
  tunnel: boolean;
}

/**
 * Open files a tunnel process may need to hold `connections` visitors: one socket each on a
 * multiplexed carrier (the visitor on the server, the target on the client), two with pooled
 * channels (each side also holds the visitor's proxy channel), and some for listeners, the
 * carrier or idle channels, the store and logs.
 */
export function fdsFor(connections: number): number {
  return (pooledChannels() ? 2 : 1) * connections + 256;
}

const MB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- results --------------------------------------------------------------------------

/** Figures in the order first recorded (the direct pass), and notes printed under the table. */
export class Results {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];

  record(
    mode: Mode,
    group: string,
    label: string,
    unit: string,
    better: Figure['better'],
    value: number | undefined,
    goal?: Goal,
  ): void {
    // The row is created even without a value, so rows keep the order of the first (direct) pass.
    let figure = this.figures.find((f) => f.group === group && f.label === label);
    if (figure === undefined) {
      figure =
        goal === undefined
          ? { group, label, unit, better, values: {} }
          : { group, label, unit, better, values: {}, goal };
      this.figures.push(figure);
    }
    if (value !== undefined && Number.isFinite(value)) figure.values[mode] = value;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

// ---- load generator --------------------------------------------------------------------

/**
 * Runs one load-generator process and returns its result line. `onMeasure` is called when the
 * warm-up ends (the measured window starts), so callers can sample CPU at the window's edges.
 */
async function runLoad(
  out: Results,
  workload: LoadWorkload,
  args: Record<string, number>,
  boundMs: number,
  onMeasure?: () => void,
): Promise<Record<string, unknown>> {
  const argv = [LOAD, workload, ...Object.entries(args).map(([k, v]) => `--${k}=${v}`)];
  const child = spawnNode(argv, ROOT);
  try {
    const result = await child.waitFor(`load ${workload}`, boundMs, (line) => {
      const json = parseJsonLine(line);
      if (json?.event === 'measure') onMeasure?.();
      return json?.event === 'result' || json?.event === 'error' ? json : undefined;
    });
    if (result.event === 'error') throw new Error(`load ${workload}: ${String(result.message)}`);
    const errors = num(result.errors) ?? 0;
    if (errors > 0) out.notes.push(`load ${workload} on port ${args.port}: ${errors} connection errors`);
    return result;
  } finally {
    await child.stop();
  }
}

// ---- workloads -------------------------------------------------------------------------

/** Opens `count` idle connections to the echo port from a child process that holds them. */
async function holdVisitors(ep: Endpoint, count: number): Promise<{ child: Child; held: number }> {
  const child: Child = spawnNode(
    [LOAD, 'hold', `--port=${ep.ports.echo}`, `--count=${count}`, '--warmup=0', '--duration=120000'],
    ROOT,
    { nofile: fdsFor(count) },
  );
  try {
    const ready = await child.waitFor('hold connections', 60_000 + 20 * count, (line) => {
      const json = parseJsonLine(line);
      return json?.event === 'ready' || json?.event === 'error' ? json : undefined;
    });
    return { child, held: num(ready.connections) ?? 0 };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * Idle RSS right after start, and the RSS cost of `visitors` idle visitor connections per side:
 * over all of them (the goal's figure), and over the second half alone, which leaves out what
 * the first connections pay once (code and heap the process touches for the first time).
 */
async function memory(
  ep: Endpoint,
  s: Settings,
  out: Results,
  idle: { server: number; client: number },
): Promise<void> {
  const group = 'memory';
  const underMb = absolute('<', 80);
  out.record(ep.mode, group, 'server RSS idle', 'MB', 'lower', idle.server / MB, underMb);
  out.record(ep.mode, group, 'client RSS idle', 'MB', 'lower', idle.client / MB);

  const rss = () => ({ server: totalRssBytes(ep.server), client: totalRssBytes(ep.client) });
  const before = rss();
  const firstCount = Math.floor(s.visitors / 2);
  const holders: Child[] = [];
  try {
    const first = await holdVisitors(ep, firstCount);
    holders.push(first.child);
    await sleep(1000); // let allocations settle before reading RSS
    const middle = rss();
    const second = await holdVisitors(ep, s.visitors - firstCount);
    holders.push(second.child);
    const held = first.held + second.held;
    if (held < s.visitors)
      out.notes.push(`${ep.mode}: only ${held} of ${s.visitors} idle connections opened`);
    if (held === 0) return;
    await sleep(1000);
    const after = rss();
    out.record(ep.mode, group, `server RSS, ${s.visitors} idle visitors`, 'MB', 'lower', after.server / MB);
    out.record(ep.mode, group, `client RSS, ${s.visitors} idle visitors`, 'MB', 'lower', after.client / MB);
    const under10 = absolute('<', 10);
    for (const side of ['server', 'client'] as const) {
      const perVisitor = (after[side] - before[side]) / held / 1024;
      out.record(
        ep.mode,
        group,
        `${side} per idle visitor (${s.visitors} held)`,
        'KB',
        'lower',
        perVisitor,
        under10,
      );
    }
    if (second.held === 0) return;
    for (const side of ['server', 'client'] as const) {
      const perVisitor = (after[side] - middle[side]) / second.held / 1024;
      const label = `${side} per idle visitor, the last ${second.held} of them`;
      out.record(ep.mode, group, label, 'KB', 'lower', perVisitor);
    }
  } finally {
    for (const child of holders) await child.stop();
  }
}

async function timeToFirstByte(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const r = await runLoad(
    out,
    'ttfb',
    { port: ep.ports.banner, count: s.ttfbCount, duration: 60_000 },
    90_000,
  );
  const group = `first byte, ${s.ttfbCount} sequential new connections`;
  out.record(ep.mode, group, 'p50', 'ms', 'lower', num(r.p50Ms));
  out.record(ep.mode, group, 'p99', 'ms', 'lower', num(r.p99Ms));
}

async function requestResponse(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const r = await runLoad(
    out,
    'rr',
    { port: ep.ports.echo, connections: s.connections, size: 64, warmup: s.warmupMs, duration: s.durationMs },
    s.warmupMs + s.durationMs + 30_000,
  );
  const group = `keep-alive 64 B echo, ${s.connections} conns`;
  out.record(
    ep.mode,
    group,
    'requests/s',
    'req/s',
    'higher',
    num(r.perSecond),
    atLeastOfDirect({ plain: 0.35, tls: 0.35 }),
  );
  out.record(ep.mode, group, 'p50', 'ms', 'lower', num(r.p50Ms));
  out.record(ep.mode, group, 'p99', 'ms', 'lower', num(r.p99Ms), absolute('≤', 5));
  out.record(ep.mode, group, 'p999', 'ms', 'lower', num(r.p999Ms));
}

async function connectPerRequest(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const r = await runLoad(
    out,
    'connect',
    { port: ep.ports.echo, connections: s.connections, size: 64, warmup: s.warmupMs, duration: s.durationMs },
    s.warmupMs + s.durationMs + 30_000,
  );
  const group = `new connection per request, ${s.connections} concurrent`;
  out.record(
    ep.mode,
    group,
    'connections/s',
    'conn/s',
    'higher',
    num(r.perSecond),
    atLeastOfDirect({ plain: 0.25, tls: 0.25 }),
  );
  out.record(ep.mode, group, 'p50', 'ms', 'lower', num(r.p50Ms));
  out.record(ep.mode, group, 'p99', 'ms', 'lower', num(r.p99Ms));
}

/** Upload and download, 1 and 8 streams; CPU per GB of the tunnel; peak RSS over all four. */
async function bulk(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const pids = ep.tunnel ? [...ep.server, ...ep.client] : ep.server;
  const sampler = new RssPeakSampler([ep.server, ep.client]);
  try {
    for (const direction of ['upload', 'download'] as const) {
      for (const streams of [1, 8]) {
        let cpuStart = 0;
        const r = await runLoad(
          out,
          direction,
          {
            port: direction === 'upload' ? ep.ports.sink : ep.ports.source,
            connections: streams,
            warmup: s.warmupMs,
            duration: s.durationMs,
          },
          s.warmupMs + s.durationMs + 30_000,
          () => {
            cpuStart = totalCpuSeconds(pids);
          },
        );
        const cpu = totalCpuSeconds(pids) - cpuStart;
        const label = `${direction}, ${streams} stream${streams === 1 ? '' : 's'}`;
        const goal = streams === 1 ? atLeastOfDirect({ plain: 0.35, tls: 0.25 }) : undefined;
        out.record(ep.mode, 'bulk', label, 'Gbit/s', 'higher', num(r.gbps), goal);
        const bytes = num(r.bytes) ?? 0;
        const cpuPerGb = ep.tunnel && bytes > 0 ? cpu / (bytes / 1e9) : undefined;
        out.record(ep.mode, 'bulk', `${label}, CPU of server+client`, 's/GB', 'lower', cpuPerGb);
        await sleep(200);
      }
    }
  } finally {
    const [serverPeak = 0, clientPeak = 0] = sampler.stop();
    out.record(ep.mode, 'bulk', 'server RSS peak', 'MB', 'lower', serverPeak / MB);
    out.record(ep.mode, 'bulk', 'client RSS peak', 'MB', 'lower', clientPeak / MB);
  }
}

/**
 * One keep-alive connection's 64-byte round trips while a single-stream download (from a second
 * target process) runs through the same tunnel (the same carrier, or another channel of the same
 * client): the latency a visitor sees beside a bulk transfer.
 */
async function mixed(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const timing = { warmup: s.warmupMs, duration: s.durationMs };
  const bound = s.warmupMs + s.durationMs + 30_000;
  const [rr, download] = await Promise.all([
    runLoad(out, 'rr', { port: ep.ports.echo, connections: 1, size: 64, ...timing }, bound),
    runLoad(
      out,
      'download',
      { port: ep.peerPorts.bulkSource ?? ep.ports.source, connections: 1, ...timing },
      bound,
    ),
  ]);
  const group = 'keep-alive 64 B echo, 1 conn, beside a 1-stream download';
  out.record(ep.mode, group, 'requests/s', 'req/s', 'higher', num(rr.perSecond));
  out.record(ep.mode, group, 'p50', 'ms', 'lower', num(rr.p50Ms));
  out.record(ep.mode, group, 'p99', 'ms', 'lower', num(rr.p99Ms));
  out.record(ep.mode, group, 'download', 'Gbit/s', 'higher', num(download.gbps));
}

/** Runs the selected workloads against one endpoint, in a fixed order. */
export async function runWorkloads(
  ep: Endpoint,
  s: Settings,
  out: Results,
  only: ReadonlySet<Workload>,
  idle: { server: number; client: number },
): Promise<void> {
  const steps: Record<Workload, () => Promise<void>> = {
    memory: () => memory(ep, s, out, idle),
    ttfb: () => timeToFirstByte(ep, s, out),
    rr: () => requestResponse(ep, s, out),
    connect: () => connectPerRequest(ep, s, out),
    bulk: () => bulk(ep, s, out),
    mixed: () => mixed(ep, s, out),
    iperf3: () => iperf3Workload(ep, s, out),
    wrk: () => wrkWorkload(ep, s, out),
  };
  // Memory first (idle figures must precede any load), then ours, then the peer tools'.
  for (const workload of WORKLOADS) {
    if (!only.has(workload)) continue;
    const started = Date.now();
    process.stderr.write(`bench: ${ep.mode} ${workload} …`);
    try {
      await steps[workload]();
      process.stderr.write(` ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      process.stderr.write(' failed\n');
      out.notes.push(
        `${ep.mode} ${workload} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    await sleep(300); // let closed connections drain before the next workload
  }
}
