// The soak run: a real `muon server` process with one license (and one mapping to a shared echo
// target) per client, the clients in one or a few fleet processes, and bursts of visitors until
// the time is up. Samples the server's memory, CPU and file descriptors; checks after each burst
// that the server and the clients let go of every visitor. Returns figures; judges nothing.

import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/net.ts';
import { Fleet, type ServerHandle } from '../support/processes.ts';
import { NodeChild } from './child.ts';
import type { Counts, FleetCommand, FleetEvent } from './client-fleet.ts';
import type { EchoCommand, EchoEvent } from './echo-target.ts';
import { type MemSample, parseMemSamples } from './mem-sampler.ts';
import { mappingPorts } from './ports.ts';
import {
  cpuSeconds,
  fileLimit,
  machineBusySeconds,
  openFds,
  type Point,
  type RssParts,
  rssMiB,
  rssParts,
  slopePerMinute,
} from './proc-stats.ts';
import { type BurstResult, ClientTally, runBurst } from './visitors.ts';

export interface SoakOptions {
  /** New bursts start until this much time has passed since the first one. */
  durationMs: number;
  clients: number;
  /** Visitors open at once in each burst (once ramped up). */
  visitors: number;
  /** Bursts to reach `visitors`: burst n has visitors × min(1, n / rampBursts); 1 = none. */
  rampBursts: number;
  /** Processes the clients are spread over. */
  fleets: number;
  /** How long the open visitors exchange messages in each burst. */
  holdMs: number;
  /** Quiet time between bursts. */
  pauseMs: number;
  messageBytes: number;
  /** Each client's `pool.minIdle`. */
  minIdle: number;
  /** Bound on one burst; visitors still busy then count as errors. */
  burstTimeoutMs: number;
  /** How often the server's memory is sampled. */
  sampleMs: number;
  /**
   * Left out of the memory slope: the server's channel pools fill in the first burst, and V8
   * sizes its heap (the young generation grows once) in the first tens of seconds.
   */
  warmupMs: number;
  /** Extra top-level lines for the server's YAML (`limits: …`); the defaults otherwise. */
  serverYaml?: string[];
  /** Extra environment for the server process only (MALLOC_ARENA_MAX=2, say). */
  serverEnv?: Record<string, string>;
  /** Clients connect to the server's plain tunnel port instead of TLS. */
  plain?: boolean;
  /**
   * How often the server itself reports its memory (test/soak/mem-sampler.ts, loaded with
   * --import): RSS, JS heap, external, arrayBuffers, sockets, timers. 0 or unset: not loaded.
   */
  memSampleMs?: number;
  /**
   * After each burst has settled, the server runs a full garbage collection and reports its
   * memory (mem-sampler.ts, SIGUSR2): BurstRecord.afterGc. Costs the server one full GC a burst.
   */
  gcAfterBursts?: boolean;
  /**
   * Runs against the server's pid after the last burst, before the clients close (a diagnostic:
   * soak.ts uses it to ask glibc for its malloc statistics through gdb).
   */
  atEnd?: (serverPid: number) => Promise<void>;
  /**
   * Runs against the server's pid after each burst has settled, before the pause, and once before
   * the first burst with burst 0 (diagnostics).
   */
  afterBurst?: (serverPid: number, burst: number, at: number) => Promise<void>;
  /** Runs against the server's pid once the clients have closed, before it is stopped. */
  afterClose?: (serverPid: number) => Promise<void>;
  /** Quiet time after the last burst, still sampling (idle channels are reaped meanwhile). */
  tailMs?: number;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface BurstRecord extends BurstResult {
  n: number;
  visitors: number;
  /** Seconds since the first burst started. */
  at: number;
  /** muon_visitor_connections_active while every visitor was open. */
  activeGauge: number;
  /** Open file descriptors of the server and of the fleets (summed) while every visitor was open. */
  serverFds: number;
  fleetFds: number;
  /** After the burst, once the server and the target have let go of every visitor. */
  settleMs: number;
  /** Server file descriptors once every visitor was gone (the pooled channels stay). */
  serverFdsAfter: number;
  /** Seconds since the first burst started, when the memory after the burst was read. */
  settledAt: number;
  serverRssAfter: number;
  fleetRssAfter: number;
  /** The server's memory right after a full GC once the burst had settled (gcAfterBursts). */
  afterGc?: MemSample | undefined;
}

export interface SoakResult {
  options: SoakOptions;
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; fileLimit: { soft: number; hard: number } };
  /** Load average (1 min) before the run and at its end. */
  load: { before: number; after: number };
  startupMs: number;
  bursts: BurstRecord[];
  /** What went wrong during the load phase, by kind; empty in a good run. */
  errors: Counts;
  /** Warnings while starting and connecting the clients (not part of the load phase). */
  startupNotes: Counts;
  /** Server RSS (MiB) every `sampleMs`, and summed fleet RSS. */
  serverRss: Point[];
  fleetRss: Point[];
  serverRssBaseline: number;
  /** Where the server's RSS is (brk heap, anonymous, files), every memSampleMs, `t` as serverRss. */
  serverRssParts: (RssParts & { t: number })[];
  /** What the server reported of its own memory (memSampleMs), `t` from its start. */
  serverMemory: MemSample[];
  /** Seconds between the server's start (its samples' t = 0) and the first burst. */
  serverMemoryOffset: number;
  /** Server stderr lines that are not memory samples (malloc_stats output, say). */
  serverStderr: string;
  /** Least-squares slopes after warm-up, MiB per minute. */
  slope: { afterBursts: number; samples: number; fromSecond: number };
  /** CPU seconds during the load phase. */
  cpu: { server: number; fleets: number; echo: number; runner: number; machine: number; wall: number };
  tallies: ClientTally[];
  /** Server file descriptors before the first burst and after the last (idle channels stay pooled). */
  serverFdsBefore: number;
  serverFdsAfter: number;
  /** The server's exit after SIGTERM at the end. */
  shutdown: { ms: number; code: number | null };
}

function count(counts: Counts, what: string, n = 1): void {
  counts[what] = (counts[what] ?? 0) + n;
}

/** Rejects with `what` if `promise` takes longer than `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** File descriptors each process needs at the peak of a burst, with room for everything else. */
export function fdsNeeded(o: Pick<SoakOptions, 'clients' | 'visitors' | 'fleets' | 'minIdle'>): {
  server: number;
  fleet: number;
  runner: number;
} {
  // Server: a visitor socket and a proxy channel per visitor, plus the idle channels and the
  // command channel of each client. A fleet: a proxy channel and a target socket per visitor.
  const pooled = o.clients * (o.minIdle + 1);
  return {
    server: 2 * o.visitors + pooled + 256,
    fleet: Math.ceil((2 * o.visitors + pooled) / o.fleets) + 256,
    runner: o.visitors + 256,
  };
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const say = o.progress ?? (() => {});
  const limit = await fileLimit('self');
  const needed = fdsNeeded(o);
  const most = Math.max(needed.server, needed.fleet, needed.runner);
  if (most > limit.soft) {
    throw new Error(
      `${o.visitors} visitors and ${o.clients} clients need about ${most} open files in one process, ` +
        `but the limit is ${limit.soft} (ulimit -n; hard limit ${limit.hard}): raise it or lower --visitors`,
    );
  }
  const cleanups: (() => Promise<void>)[] = [];
  const started = performance.now();
  try {
    const echo = new NodeChild<EchoCommand, EchoEvent>(
      'echo target',
      join(import.meta.dirname, 'echo-target.ts'),
    );
    cleanups.push(() => echo.kill());
    const { port: echoPort } = await echo.next('listening', 15_000);

    const fleet = await Fleet.create((cleanup) => cleanups.push(cleanup));
    const ports = await mappingPorts(o.clients);
    const clients = ports.map((port, index) => ({
      index,
      port,
      key: randomBytes(32).toString('base64url'),
    }));
    say(`starting muon server with ${o.clients} licenses`);
    const serverStarted = performance.now();
    const server = await withEnv(serverEnv(o), () =>
      fleet.server({
        yaml: o.serverYaml ?? [],
        licenses: clients.map((c) => ({
          name: `soak-${c.index}`,
          key: c.key,
          mappings: [{ port: c.port, target: `127.0.0.1:${echoPort}` }],
        })),
      }),
    );

    const fleets = Array.from(
      { length: o.fleets },
      (_, i) =>
        new NodeChild<FleetCommand, FleetEvent>(
          `client fleet ${i}`,
          join(import.meta.dirname, 'client-fleet.ts'),
        ),
    );
    cleanups.push(async () => {
      await Promise.all(fleets.map((f) => f.kill()));
    });
    say(`starting ${o.clients} clients in ${o.fleets} process(es)`);
    fleets.forEach((f, i) => {
      f.send({
        type: 'start',
        server: { host: '127.0.0.1', port: o.plain ? server.plainPort : server.tunnelPort },
        fingerprint: o.plain ? false : server.fingerprint,
        clients: clients.filter((c) => c.index % o.fleets === i).map(({ index, key }) => ({ index, key })),
        minIdle: o.minIdle,
        wave: 20,
      });
    });
    const startupNotes: Counts = {};
    for (const f of fleets) {
      const ready = await f.next('ready', 30_000 + 200 * o.clients);
      for (const [what, n] of Object.entries(ready.startup)) count(startupNotes, `client: ${what}`, n);
    }
    await waitFor(
      async () => {
        const m = await server.metrics();
        return (
          m.value('muon_clients_online') === o.clients && m.value('muon_public_ports_open') === o.clients
        );
      },
      30_000,
      `${o.clients} clients online and their ports open`,
    );
    const serverLogsBefore = server.proc.logs().length;
    for (const line of server.proc.logs()) {
      if (line.code !== undefined || Number(line.level) >= 40) {
        count(startupNotes, `server: ${line.msg}${line.code ? ` (${line.code})` : ''}`);
      }
    }
    const startupMs = performance.now() - started;
    say(`all ${o.clients} clients online after ${(startupMs / 1000).toFixed(1)} s`);

    return await loadPhase(o, {
      server,
      fleets,
      echo,
      ports: [...ports],
      serverLogsBefore,
      startupNotes,
      startupMs,
      limit,
      serverStarted,
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

interface Stage {
  server: ServerHandle;
  fleets: NodeChild<FleetCommand, FleetEvent>[];
  echo: NodeChild<EchoCommand, EchoEvent>;
  ports: number[];
  serverLogsBefore: number;
  startupNotes: Counts;
  startupMs: number;
  limit: { soft: number; hard: number };
  /** performance.now() when the server was spawned. */
  serverStarted: number;
}

/** Asks the server for its `nth` full GC (mem-sampler.ts) and returns the sample it takes then. */
async function collectGarbage(server: ServerHandle, nth: number): Promise<MemSample | undefined> {
  const gcSamples = () => parseMemSamples(server.proc.stderr).filter((m) => m.gc);
  server.proc.signal('SIGUSR2');
  try {
    await waitFor(() => gcSamples().length >= nth, 10_000, 'the server to report its memory after a GC');
  } catch {
    return undefined;
  }
  return gcSamples()[nth - 1];
}

/** The server's own environment: the options' serverEnv, and the memory sampler if asked for. */
function serverEnv(o: SoakOptions): Record<string, string> {
  const env = { ...o.serverEnv };
  if (o.memSampleMs || o.gcAfterBursts) {
    const sampler = join(import.meta.dirname, 'mem-sampler.ts');
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ''} --import=${sampler}`.trim();
    env.SOAK_MEM_SAMPLE_MS = String(o.memSampleMs ?? 0);
    if (o.gcAfterBursts) env.SOAK_MEM_GC = '1';
  }
  return env;
}

/**
 * Runs `start` with `env` added to process.env, then restores it: the server is spawned from
 * process.env (test/support/processes.ts), and nothing else is spawned meanwhile.
 */
async function withEnv<T>(env: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await start();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function loadPhase(o: SoakOptions, s: Stage): Promise<SoakResult> {
  const say = o.progress ?? (() => {});
  const { server, fleets, echo } = s;
  const serverPid = server.proc.pid;
  const fleetPids = fleets.map((f) => f.pid);
  const sumOver = async (pids: number[], read: (pid: number) => Promise<number>) =>
    (await Promise.all(pids.map(read))).reduce((a, b) => a + b, 0);

  const errors: Counts = {};
  const tallies = Array.from({ length: o.clients }, () => new ClientTally());
  const bursts: BurstRecord[] = [];
  const serverRss: Point[] = [];
  const fleetRss: Point[] = [];
  const serverRssParts: (RssParts & { t: number })[] = [];
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg()[0] ?? Number.NaN;
  const cpuBefore = {
    server: await cpuSeconds(serverPid),
    fleets: await sumOver(fleetPids, cpuSeconds),
    echo: await cpuSeconds(echo.pid),
    runner: process.cpuUsage(),
    machine: await machineBusySeconds(),
  };
  const serverRssBaseline = await rssMiB(serverPid);
  const serverFdsBefore = await openFds(serverPid);
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;

  let sampling: Promise<void> = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = (async () => {
      const at = seconds();
      try {
        serverRss.push({ t: at, value: await rssMiB(serverPid) });
        fleetRss.push({ t: at, value: await sumOver(fleetPids, rssMiB) });
        const every = o.memSampleMs ? Math.max(1, Math.round(o.memSampleMs / o.sampleMs)) : 0;
        if (every > 0 && serverRss.length % every === 1) {
          serverRssParts.push({ t: at, ...(await rssParts(serverPid)) });
        }
      } catch {
        // A process gone: the burst loop reports it.
      }
    })();
  }, o.sampleMs);

  try {
    await o.afterBurst?.(serverPid, 0, seconds());
    for (let n = 1; performance.now() - t0 < o.durationMs; n++) {
      if (!server.proc.running) {
        count(errors, 'server process exited');
        break;
      }
      const at = seconds();
      const visitors = Math.round(o.visitors * Math.min(1, n / o.rampBursts));
      let activeGauge = Number.NaN;
      let serverFds = Number.NaN;
      let fleetFds = Number.NaN;
      const result = await runBurst({
        burst: n,
        ports: s.ports,
        visitors,
        holdMs: o.holdMs,
        messageBytes: o.messageBytes,
        timeoutMs: o.burstTimeoutMs,
        tallies,
        errors,
        whileOpen: async (open) => {
          const metrics = await bounded(server.metrics(), 5000, '/metrics');
          activeGauge = metrics.value('muon_visitor_connections_active');
          if (activeGauge !== open) count(errors, 'active visitor gauge differs from the visitors open');
          serverFds = await openFds(serverPid);
          fleetFds = await sumOver(fleetPids, openFds);
        },
      });
      // The server and the target let go of every visitor (a leak shows here).
      const settleStarted = performance.now();
      try {
        await waitFor(
          async () =>
            (await bounded(server.metrics(), 5000, '/metrics')).value('muon_visitor_connections_active') ===
            0,
          10_000,
          'the server to count no visitor',
        );
      } catch {
        count(errors, 'server still counts visitors 10 s after a burst');
      }
      try {
        await waitFor(
          async () => {
            echo.send({ type: 'count' });
            return (await echo.next('count', 5000)).open === 0;
          },
          10_000,
          'the target to have no connection',
        );
      } catch {
        count(errors, 'target connections still open 10 s after a burst');
      }
      const record: BurstRecord = {
        ...result,
        n,
        visitors,
        at,
        activeGauge,
        serverFds,
        fleetFds,
        settleMs: performance.now() - settleStarted,
        serverFdsAfter: await openFds(serverPid),
        settledAt: seconds(),
        serverRssAfter: await rssMiB(serverPid),
        fleetRssAfter: await sumOver(fleetPids, rssMiB),
        ...(o.gcAfterBursts && { afterGc: await collectGarbage(server, bursts.length + 1) }),
      };
      bursts.push(record);
      say(
        `burst ${n} at ${at.toFixed(1)} s: ${result.open}/${visitors} open in ${Math.round(result.openMs)} ms, ` +
          `${result.roundTrips} round trips, ${result.failed} failed, server ${record.serverRssAfter.toFixed(1)} MiB, ` +
          `${serverFds} fds (${record.serverFdsAfter} after)`,
      );
      await o.afterBurst?.(serverPid, n, seconds());
      await new Promise((resolve) => setTimeout(resolve, o.pauseMs));
    }
    if (o.tailMs) {
      say(`no visitors for ${o.tailMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, o.tailMs));
    }
  } finally {
    clearInterval(sampler);
    await sampling;
  }

  const wall = seconds();
  const runner = process.cpuUsage(cpuBefore.runner);
  const cpu = {
    server: (await cpuSeconds(serverPid)) - cpuBefore.server,
    fleets: (await sumOver(fleetPids, cpuSeconds)) - cpuBefore.fleets,
    echo: (await cpuSeconds(echo.pid)) - cpuBefore.echo,
    runner: (runner.user + runner.system) / 1e6,
    machine: (await machineBusySeconds()) - cpuBefore.machine,
    wall,
  };
  const serverFdsAfter = await openFds(serverPid);
  await o.atEnd?.(serverPid);

  // Anything the server or a client warned about while under load is an error.
  for (const line of server.proc.logs().slice(s.serverLogsBefore)) {
    if (line.code !== undefined || Number(line.level) >= 40) {
      count(errors, `server: ${line.msg}${line.code ? ` (${line.code})` : ''}`);
    }
  }
  for (const f of fleets) {
    f.send({ type: 'stats' });
    const { load } = await f.next('stats', 10_000);
    for (const [what, n] of Object.entries(load)) count(errors, `client: ${what}`, n);
  }

  // A clean stop: clients first, then the server (SIGTERM).
  say('closing the clients and stopping the server');
  for (const f of fleets) f.send({ type: 'close' });
  for (const f of fleets) {
    await f.next('closed', 30_000);
    f.child.disconnect();
  }
  await o.afterClose?.(serverPid);
  const stopStarted = performance.now();
  const exit = await server.proc.stop(10_000);
  const serverStderr = server.proc.stderr;
  const shutdown = { ms: performance.now() - stopStarted, code: exit.code };
  if (exit.code !== 0) count(errors, `server exit code ${exit.code} (signal ${exit.signal})`);

  const fromSecond = o.warmupMs / 1000;
  const warm = bursts.filter((b) => b.settledAt >= fromSecond);
  return {
    options: o,
    startedAt,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      fileLimit: s.limit,
    },
    load: { before: loadBefore, after: loadavg()[0] ?? Number.NaN },
    startupMs: s.startupMs,
    bursts,
    errors,
    startupNotes: s.startupNotes,
    serverRss,
    fleetRss,
    serverRssBaseline,
    serverRssParts,
    serverMemory: parseMemSamples(serverStderr),
    serverMemoryOffset: (t0 - s.serverStarted) / 1000,
    serverStderr: serverStderr
      .split('\n')
      .filter((line) => line && !line.startsWith('soak-mem '))
      .join('\n'),
    slope: {
      afterBursts: slopePerMinute(warm.map((b) => ({ t: b.settledAt, value: b.serverRssAfter }))),
      samples: slopePerMinute(serverRss.filter((p) => p.t >= fromSecond)),
      fromSecond,
    },
    cpu,
    tallies,
    serverFdsBefore,
    serverFdsAfter,
    shutdown,
  };
}
