// `npm run bench`: runs the same workloads against the target service directly, through Muon
// (plain and TLS tunnel) and through `ssh -R` when OpenSSH is installed, then prints every
// figure beside direct with the ratio; iperf3 and wrk, when installed, add their own rows.
//   node bench/run.ts [--quick] [--only=bulk,rr,...] [--mode=direct,plain,tls,ssh|all]
//                     [--visitors=N] [--hold=N] [--no-peers] [--json]
// One target process, one load-generator process per workload, and per tunnel mode its server
// and client; all on 127.0.0.1, all ended when the run ends or is interrupted.

import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readNodeFlags } from '../scripts/node-flags.ts';
import { killAllChildren, parseJsonLine, spawnNode } from './child.ts';
import { type BenchContext, type OpenEndpoint, openEndpoint } from './endpoints.ts';
import { hold } from './hold.ts';
import type { ServicePorts } from './muon.ts';
import { findTool, type PeerTargets, type PeerTool, startPeerTargets } from './peers.ts';
import { readMachineCpu, readOpenFileLimit, readRssBytes } from './proc.ts';
import { figuresToJson, type Mode, renderTable } from './report.ts';
import { sshUnavailable } from './ssh-tunnel.ts';
import { removeTempDirsSync } from './temp-dirs.ts';
import {
  fdsFor,
  PEER_WORKLOADS,
  Results,
  runWorkloads,
  type Settings,
  WORKLOADS,
  type Workload,
} from './workloads.ts';

const ROOT = join(import.meta.dirname, '..');
const ALL_MODES: readonly Mode[] = ['direct', 'plain', 'tls', 'ssh'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- flags -----------------------------------------------------------------------------

interface Plan {
  settings: Settings;
  modes: Mode[];
  only: Set<Workload>;
  json: boolean;
  /** --hold=N: only the hold test, with N connections per mode. */
  hold: number | undefined;
  notes: string[];
}

function parseFlags(): Plan {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      mode: { type: 'string', default: 'all' },
      json: { type: 'boolean', default: false },
      visitors: { type: 'string' },
      hold: { type: 'string' },
      peers: { type: 'boolean', default: true },
    },
  });
  const count = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 100_000)
      throw new Error(`--${name}: expected 1..100000, got ${text}`);
    return n;
  };
  const notes: string[] = [];
  const peers = values.peers;
  const sshMissing = sshUnavailable();
  let modes: string[];
  if (values.mode === 'all') {
    modes = ALL_MODES.filter((m) => m !== 'ssh' || (peers && sshMissing === undefined));
    if (peers && sshMissing !== undefined) notes.push(`ssh -R peer tunnel skipped: ${sshMissing}`);
  } else {
    modes = values.mode.split(',');
    for (const m of modes) {
      if (!(ALL_MODES as readonly string[]).includes(m))
        throw new Error(`--mode: expected ${ALL_MODES.join(', ')} or all, got ${m}`);
    }
    if (modes.includes('ssh') && sshMissing !== undefined) {
      notes.push(`ssh -R peer tunnel skipped: ${sshMissing}`);
      modes = modes.filter((m) => m !== 'ssh');
    }
  }
  let only: string[];
  if (values.only === undefined) {
    only = WORKLOADS.filter((w) => peers || !PEER_WORKLOADS.includes(w));
  } else {
    only = values.only.split(',');
    for (const w of only) {
      if (!(WORKLOADS as readonly string[]).includes(w))
        throw new Error(`--only: expected one of ${WORKLOADS.join(', ')}, got ${w}`);
    }
  }
  const hold = count('hold', values.hold);
  for (const tool of PEER_WORKLOADS) {
    if (hold === undefined && only.includes(tool) && findTool(tool) === undefined) {
      notes.push(`${tool} peer workload skipped: ${tool} not installed`);
      only = only.filter((w) => w !== tool);
    }
  }
  const quick = values.quick;
  return {
    settings: {
      quick,
      warmupMs: quick ? 300 : 1000,
      durationMs: quick ? 1000 : 4000,
      connections: 32,
      ttfbCount: quick ? 200 : 500,
      visitors: count('visitors', values.visitors) ?? (quick ? 200 : 1000),
    },
    modes: ALL_MODES.filter((m) => modes.includes(m)),
    only: new Set(only as Workload[]),
    json: values.json,
    hold,
    notes,
  };
}

// ---- main ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const plan = parseFlags();
  const { settings, modes, only, json } = plan;
  const results = new Results();
  results.notes.push(...plan.notes);
  const limit = readOpenFileLimit('self');
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    openFiles: limit === undefined ? 'unknown' : `${limit.soft}/${limit.hard}`,
  };
  const started = Date.now();
  const cpuAtStart = readMachineCpu();
  const what =
    plan.hold === undefined
      ? `${settings.quick ? 'quick' : 'full'} run, ${settings.durationMs} ms per workload after ${settings.warmupMs} ms warm-up`
      : `hold test, ${plan.hold} connections per mode`;
  process.stderr.write(
    `bench: ${machine.date}, ${machine.nproc} cores (${machine.cpu}), Linux ${machine.kernel}, Node ${machine.node}, ` +
      `open files ${machine.openFiles} (soft/hard); ${what}\n`,
  );

  // Every process that holds the visitors' connections may need two descriptors for each.
  const nofile = fdsFor(Math.max(settings.visitors, plan.hold ?? 0));
  const target = spawnNode([join(ROOT, 'bench', 'target.ts')], ROOT, { nofile });
  const ready = await target.waitFor('target', 10_000, (line) => {
    const j = parseJsonLine(line);
    return j?.event === 'ready' ? j : undefined;
  });
  await sleep(300);
  const targetIdle = readRssBytes(target.pid) ?? 0;
  // The `mixed` workload downloads from a second target process, so that the download does not
  // keep the echo service's process busy: what it measures is the tunnel, not the target.
  const bulkTarget = only.has('mixed') ? spawnNode([join(ROOT, 'bench', 'target.ts')], ROOT) : undefined;
  const bulkPorts = (
    await bulkTarget?.waitFor('second target', 10_000, (line) => {
      const j = parseJsonLine(line);
      return j?.event === 'ready' ? j : undefined;
    })
  )?.ports as ServicePorts | undefined;

  const peerTools = new Set<PeerTool>();
  if (plan.hold === undefined)
    for (const tool of ['iperf3', 'wrk'] as const) if (only.has(tool)) peerTools.add(tool);
  let peerTargets: PeerTargets | undefined;
  if (peerTools.size > 0) {
    try {
      peerTargets = await startPeerTargets(ROOT, peerTools);
    } catch (error) {
      results.notes.push(
        `peer servers did not start: ${error instanceof Error ? error.message : String(error)}`,
      );
      for (const tool of peerTools) only.delete(tool);
    }
  }
  const ctx: BenchContext = {
    root: ROOT,
    target: { pid: target.pid, ports: ready.ports as ServicePorts, idleRss: targetIdle },
    peerTargets: { ...peerTargets?.ports, ...(bulkPorts && { bulkSource: bulkPorts.source }) },
    nofile,
  };

  const ran: Mode[] = [];
  for (const mode of modes) {
    let endpoint: OpenEndpoint;
    try {
      endpoint = await openEndpoint(mode, ctx);
    } catch (error) {
      results.notes.push(`${mode}: did not start: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    ran.push(mode);
    try {
      if (plan.hold === undefined) {
        await runWorkloads(endpoint.ep, settings, results, only, endpoint.idle);
      } else {
        process.stderr.write(`bench: ${mode} hold ${plan.hold} …`);
        const t0 = Date.now();
        try {
          await hold(endpoint.ep, { count: plan.hold, idleMs: settings.quick ? 1000 : 5000 }, results);
          process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
        } catch (error) {
          process.stderr.write(' failed\n');
          results.notes.push(
            `${mode} hold failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    } finally {
      await endpoint.stop();
    }
    // Closed connections (thousands after a hold) drain before the next mode starts.
    if (plan.hold !== undefined) await sleep(1000);
  }

  await peerTargets?.stop();
  await bulkTarget?.stop();
  await target.stop();

  process.stdout.write(
    `\nMuon benchmark — ${machine.date}, ${machine.nproc} cores, Linux ${machine.kernel}, Node ${machine.node}\n`,
  );
  if (plan.hold === undefined) {
    process.stdout.write(
      `${settings.quick ? 'quick run: ' : ''}${settings.warmupMs} ms warm-up + ${settings.durationMs} ms per workload; ratio = tunnel / direct\n`,
    );
    process.stdout.write(
      'memory rows: the direct column is the target process (a bare Node TCP server) as a baseline\n',
    );
    const extra = process.env.MUON_BENCH_NODE_OPTIONS ? `, then ${process.env.MUON_BENCH_NODE_OPTIONS}` : '';
    process.stdout.write(`Muon's Node flags: ${readNodeFlags(ROOT).join(' ')} (bin/node-flags)${extra}\n\n`);
  } else {
    process.stdout.write(
      `hold test: ${plan.hold} connections opened 50 at a time, held, checked again; ratio = tunnel / direct\n` +
        `open files: ${machine.openFiles} (soft/hard) for the run; each tunnel process asks for ${nofile}\n\n`,
    );
  }
  process.stdout.write(`${renderTable(results.figures, ran)}\n`);
  for (const note of results.notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s${stolenNote(cpuAtStart)}\n`);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ machine, settings, hold: plan.hold, modes: ran, figures: figuresToJson(results.figures), notes: results.notes })}\n`,
    );
  }
}

/** How much of the machine's CPU the hypervisor gave to other guests during the run. */
function stolenNote(start: ReturnType<typeof readMachineCpu>): string {
  const end = readMachineCpu();
  if (!start || !end || end.total <= start.total) return '';
  const share = (100 * (end.steal - start.steal)) / (end.total - start.total);
  return `; CPU stolen by the hypervisor: ${share.toFixed(1)} % (compare runs with similar figures)`;
}

function cleanup(): void {
  killAllChildren();
  removeTempDirsSync();
}

process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping\n`);
    cleanup();
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  cleanup();
  process.exit(1);
});
