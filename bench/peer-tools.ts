// Workloads driven by peer tools instead of our load generator: iperf3 (bulk, 1 and 8 streams,
// both directions) against its own server and wrk (HTTP keep-alive) against http-target.ts,
// through the endpoint's ports, so their figures sit beside ours in the same columns.

import { join } from 'node:path';
import { parseJsonLine, runCommand } from './child.ts';
import { findTool } from './peers.ts';
import type { Endpoint, Results, Settings } from './workloads.ts';

const ROOT = join(import.meta.dirname, '..');
const WRK_SCRIPT = join(import.meta.dirname, 'wrk-report.lua');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whole seconds for the tools' duration flags (neither takes fractions). */
const seconds = (ms: number, min: number): number => Math.max(min, Math.round(ms / 1000));

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

/** iperf3 upload (client sends) and download (-R, server sends), 1 and 8 streams. */
export async function iperf3Workload(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const tool = findTool('iperf3');
  const port = ep.peerPorts.iperf3;
  if (tool === undefined || port === undefined) throw new Error('iperf3 or its server is not available');
  const group = 'iperf3 bulk';
  const time = seconds(s.durationMs, 1);
  const omit = seconds(s.warmupMs, 0);
  for (const direction of ['upload', 'download'] as const) {
    for (const streams of [1, 8]) {
      const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(time), '-O', String(omit)];
      args.push('-P', String(streams), '-J', '--connect-timeout', '5000');
      if (direction === 'download') args.push('-R');
      const run = await runCommand(tool, args, ROOT, (time + omit + 30) * 1000);
      const label = `${direction}, ${streams} stream${streams === 1 ? '' : 's'}`;
      let report: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } = {};
      try {
        report = JSON.parse(run.stdout) as typeof report;
      } catch {
        report = { error: lastLine(run.stderr) || `exit ${run.code ?? 'by signal'}` };
      }
      const bps = report.end?.sum_received?.bits_per_second;
      if (report.error !== undefined || bps === undefined) {
        out.notes.push(`${ep.mode} iperf3 ${label}: ${report.error ?? 'no result'}`);
      }
      out.record(ep.mode, group, label, 'Gbit/s', 'higher', bps === undefined ? undefined : bps / 1e9);
      await sleep(200);
    }
  }
}

/** wrk keep-alive HTTP: a warm-up run (discarded), then the measured run. */
export async function wrkWorkload(ep: Endpoint, s: Settings, out: Results): Promise<void> {
  const tool = findTool('wrk');
  const port = ep.peerPorts.http;
  if (tool === undefined || port === undefined) throw new Error('wrk or its HTTP target is not available');
  const url = `http://127.0.0.1:${port}/`;
  // wrk's own default of 2 threads, and the same connection count as our keep-alive workload.
  const base = ['-t', '2', '-c', String(s.connections), '--timeout', '5s', '-s', WRK_SCRIPT];
  const warm = seconds(s.warmupMs, 1);
  await runCommand(tool, [...base, '-d', `${warm}s`, url], ROOT, (warm + 30) * 1000);
  const time = seconds(s.durationMs, 1);
  const run = await runCommand(tool, [...base, '-d', `${time}s`, url], ROOT, (time + 30) * 1000);
  const result = run.stdout
    .split('\n')
    .map(parseJsonLine)
    .find((j) => j?.event === 'result');
  const group = `wrk HTTP keep-alive, ${s.connections} conns`;
  const num = (key: string): number | undefined => {
    const v = result?.[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  if (result === undefined) {
    out.notes.push(`${ep.mode} wrk: no result (${lastLine(run.stderr) || lastLine(run.stdout)})`);
  } else {
    const errors = ['connectErrors', 'readErrors', 'writeErrors', 'statusErrors', 'timeouts']
      .map((k) => `${k} ${num(k) ?? 0}`)
      .filter((text) => !text.endsWith(' 0'));
    if (errors.length > 0) out.notes.push(`${ep.mode} wrk: ${errors.join(', ')}`);
  }
  const requests = num('requests');
  const durationUs = num('durationUs');
  const perSecond =
    requests === undefined || durationUs === undefined || durationUs === 0
      ? undefined
      : requests / (durationUs / 1e6);
  const ms = (us: number | undefined): number | undefined => (us === undefined ? undefined : us / 1000);
  out.record(ep.mode, group, 'requests/s', 'req/s', 'higher', perSecond);
  out.record(ep.mode, group, 'p50', 'ms', 'lower', ms(num('p50Us')));
  out.record(ep.mode, group, 'p99', 'ms', 'lower', ms(num('p99Us')));
}
