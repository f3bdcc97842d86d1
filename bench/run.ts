// `npm run bench`: runs the same workloads against the target service directly and through
// Muon (plain and TLS tunnel), then prints every figure beside direct with the ratio.
//   node bench/run.ts [--quick] [--only=bulk,rr,...] [--mode=direct|plain|tls|all] [--json]
// One target process, one load-generator process per workload, and for the tunnel modes one
// Muon server and one client; all on 127.0.0.1, all ended when the run ends or is interrupted.

import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllChildren, parseJsonLine, spawnNode } from './child.ts';
import { muonAvailable, removeTempDirsSync, type ServicePorts, startMuon } from './muon.ts';
import { readRssBytes } from './proc.ts';
import { figuresToJson, type Mode, renderTable, type TunnelMode } from './report.ts';
import {
  type Endpoint,
  Results,
  runWorkloads,
  type Settings,
  WORKLOADS,
  type Workload,
} from './workloads.ts';

const ROOT = join(import.meta.dirname, '..');
const ALL_MODES: readonly Mode[] = ['direct', 'plain', 'tls'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- peers -----------------------------------------------------------------------------

function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Hook for side-by-side peers (iperf3 for bulk, wrk for request/response, later frp, rathole,
 * ssh -R as other tunnels in front of the same target). Not implemented yet: when the tools are
 * installed nothing is measured and nothing is printed. Peer figures would be recorded with
 * results.record() under their own mode column (Mode in report.ts would grow a peer name).
 */
async function measurePeers(
  _tools: readonly string[],
  _settings: Settings,
  _target: ServicePorts,
  _results: Results,
): Promise<void> {}

// ---- main ------------------------------------------------------------------------------

function parseFlags(): { settings: Settings; modes: Mode[]; only: Set<Workload>; json: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      mode: { type: 'string', default: 'all' },
      json: { type: 'boolean', default: false },
    },
  });
  const modes = values.mode === 'all' ? [...ALL_MODES] : values.mode.split(',');
  for (const m of modes) {
    if (!(ALL_MODES as readonly string[]).includes(m))
      throw new Error(`--mode: expected direct, plain, tls or all, got ${m}`);
  }
  const only = values.only === undefined ? [...WORKLOADS] : values.only.split(',');
  for (const w of only) {
    if (!(WORKLOADS as readonly string[]).includes(w))
      throw new Error(`--only: expected one of ${WORKLOADS.join(', ')}, got ${w}`);
  }
  const quick = values.quick;
  return {
    settings: {
      quick,
      warmupMs: quick ? 300 : 1000,
      durationMs: quick ? 1000 : 4000,
      connections: 32,
      ttfbCount: quick ? 200 : 500,
      holdCount: 1000,
    },
    modes: ALL_MODES.filter((m) => modes.includes(m)),
    only: new Set(only as Workload[]),
    json: values.json,
  };
}

async function main(): Promise<void> {
  const { settings, modes, only, json } = parseFlags();
  const results = new Results();
  const machine = {
    date: new Date().toISOString().slice(0, 10),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
  };
  const started = Date.now();
  process.stderr.write(
    `bench: ${machine.date}, ${machine.nproc} cores (${machine.cpu}), Linux ${machine.kernel}, Node ${machine.node}; ` +
      `${settings.quick ? 'quick' : 'full'} run, ${settings.durationMs} ms per workload after ${settings.warmupMs} ms warm-up\n`,
  );

  const target = spawnNode([join(ROOT, 'bench', 'target.ts')], ROOT);
  const ready = await target.waitFor('target', 10_000, (line) => {
    const j = parseJsonLine(line);
    return j?.event === 'ready' ? j : undefined;
  });
  const targetPorts = ready.ports as ServicePorts;
  await sleep(300);
  const targetIdle = readRssBytes(target.pid) ?? 0;

  for (const mode of modes) {
    if (mode === 'direct') {
      const ep: Endpoint = {
        mode,
        ports: targetPorts,
        server: target.pid,
        client: target.pid,
        tunnel: false,
      };
      await runWorkloads(ep, settings, results, only, { server: targetIdle, client: targetIdle });
      continue;
    }
    if (!muonAvailable(ROOT)) {
      results.notes.push(`${mode}: skipped, src/cli/main.ts does not exist yet`);
      continue;
    }
    let muon: Awaited<ReturnType<typeof startMuon>> | undefined;
    try {
      muon = await startMuon(ROOT, mode as TunnelMode, targetPorts);
    } catch (error) {
      results.notes.push(
        `${mode}: Muon did not start: ${error instanceof Error ? error.message : String(error)}`,
      );
      continue;
    }
    try {
      await sleep(500); // settle before the idle memory reading
      const idle = { server: readRssBytes(muon.serverPid) ?? 0, client: readRssBytes(muon.clientPid) ?? 0 };
      const ep: Endpoint = {
        mode,
        ports: muon.ports,
        server: muon.serverPid,
        client: muon.clientPid,
        tunnel: true,
      };
      await runWorkloads(ep, settings, results, only, idle);
    } finally {
      await muon.stop();
    }
  }

  const peers = ['iperf3', 'wrk'].filter(onPath);
  if (peers.length > 0) await measurePeers(peers, settings, targetPorts, results);
  await target.stop();

  process.stdout.write(
    `\nMuon benchmark — ${machine.date}, ${machine.nproc} cores, Linux ${machine.kernel}, Node ${machine.node}\n`,
  );
  process.stdout.write(
    `${settings.quick ? 'quick run: ' : ''}${settings.warmupMs} ms warm-up + ${settings.durationMs} ms per workload; ratio = tunnel / direct\n`,
  );
  process.stdout.write(
    'memory rows: the direct column is the target process (a bare Node TCP server) as a baseline\n\n',
  );
  process.stdout.write(`${renderTable(results.figures, modes)}\n`);
  for (const note of results.notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ machine, settings, modes, figures: figuresToJson(results.figures), notes: results.notes })}\n`,
    );
  }
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
