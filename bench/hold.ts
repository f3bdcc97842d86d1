// `--hold=N`: N concurrent visitor connections through one client (each checked with a 1-byte
// round trip), held idle, then all checked again. Reports errors (must be 0), the time to open
// them all, and the RSS of each side in total and per connection.

import { join } from 'node:path';
import { type Child, parseJsonLine, spawnNode } from './child.ts';
import { countOpenFiles, readOpenFileLimit, totalRssBytes } from './proc.ts';
import { absolute } from './report.ts';
import { type Endpoint, fdsFor, type Results } from './workloads.ts';

const LOAD = join(import.meta.dirname, 'load.ts');
const ROOT = join(import.meta.dirname, '..');
const MB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export interface HoldSettings {
  /** Connections to open and hold. */
  count: number;
  /** How long they stay idle before the second check. */
  idleMs: number;
}

/** A note when a process may hold fewer open files than `needed` (EMFILE would follow). */
function limitNote(what: string, pids: readonly number[], needed: number): string | undefined {
  for (const pid of pids) {
    const limit = readOpenFileLimit(pid);
    if (limit !== undefined && limit.soft < needed)
      return `${what} (PID ${pid}) may open ${limit.soft} files (hard limit ${limit.hard}), ~${needed} needed: expect errors`;
  }
  return undefined;
}

export async function hold(ep: Endpoint, h: HoldSettings, out: Results): Promise<void> {
  const group = `hold, ${h.count.toLocaleString('en-US')} concurrent visitors`;
  const needed = fdsFor(h.count);
  const sides = ep.tunnel ? { server: ep.server, client: ep.client } : { target: ep.server };
  for (const [what, pids] of Object.entries(sides)) {
    const note = limitNote(`${ep.mode} ${what}`, pids, needed);
    if (note !== undefined) out.notes.push(note);
  }
  await sleep(500);
  const before = { server: totalRssBytes(ep.server), client: totalRssBytes(ep.client) };
  const child: Child = spawnNode(
    [LOAD, 'hold', `--port=${ep.ports.echo}`, `--count=${h.count}`, '--warmup=0', '--duration=600000'],
    ROOT,
    { nofile: needed },
  );
  try {
    const ready = await child.waitFor('hold connections', 120_000 + 20 * h.count, (line) => {
      const json = parseJsonLine(line);
      return json?.event === 'ready' || json?.event === 'error' ? json : undefined;
    });
    if (ready.event === 'error') throw new Error(String(ready.message));
    const loadNote = limitNote(`${ep.mode} load generator`, [child.pid], h.count + 64);
    if (loadNote !== undefined) out.notes.push(loadNote);
    const opened = num(ready.connections) ?? 0;
    out.record(ep.mode, group, 'opened', 'conns', 'higher', opened);
    out.record(ep.mode, group, 'errors while opening', 'conns', 'lower', num(ready.errors), absolute('=', 0));
    out.record(ep.mode, group, 'time to open all', 's', 'lower', num(ready.seconds));
    await sleep(Math.min(h.idleMs, 1000)); // let allocations settle before reading RSS
    const after = { server: totalRssBytes(ep.server), client: totalRssBytes(ep.client) };
    // Descriptors in use: what the open-file limit must allow for this many connections.
    out.record(ep.mode, group, 'server open files', 'fds', 'lower', countOpenFiles(ep.server));
    out.record(ep.mode, group, 'client open files', 'fds', 'lower', countOpenFiles(ep.client));
    out.record(ep.mode, group, 'server RSS', 'MB', 'lower', after.server / MB);
    out.record(ep.mode, group, 'client RSS', 'MB', 'lower', after.client / MB);
    const perConnection = (delta: number): number | undefined =>
      opened === 0 ? undefined : delta / opened / 1024;
    out.record(
      ep.mode,
      group,
      'server per connection',
      'KB',
      'lower',
      perConnection(after.server - before.server),
    );
    out.record(
      ep.mode,
      group,
      'client per connection',
      'KB',
      'lower',
      perConnection(after.client - before.client),
    );

    await sleep(Math.max(0, h.idleMs - 1000));
    child.process.kill('SIGUSR2');
    const checked = await child.waitFor('check held connections', 60_000 + 10 * h.count, (line) => {
      const json = parseJsonLine(line);
      return json?.event === 'checked' || json?.event === 'error' ? json : undefined;
    });
    if (checked.event === 'error') throw new Error(String(checked.message));
    const idleSeconds = Math.round(h.idleMs / 1000);
    out.record(
      ep.mode,
      group,
      `lost after ${idleSeconds} s idle`,
      'conns',
      'lower',
      num(checked.failed),
      absolute('=', 0),
    );
    out.record(ep.mode, group, 'time to check all again', 's', 'lower', num(checked.seconds));
  } finally {
    await child.stop();
  }
}
