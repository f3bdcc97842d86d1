// What the soak suite reads about a process from /proc: resident memory, CPU time, open file
// descriptors and the open-file limit; and the least-squares slope that says whether memory grows.

import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Resident memory in MiB (VmRSS). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) / 1024;
}

/** Where a process's resident memory is, in MiB (from /proc/<pid>/smaps). */
export interface RssParts {
  /** The brk heap: glibc malloc's main arena. */
  brk: number;
  /** Anonymous mappings: V8's heap pages, other malloc arenas, large malloc chunks, stacks. */
  anon: number;
  /** File-backed mappings: the node binary, libraries. */
  file: number;
  /** How many mappings (each chunk glibc mmaps on its own is one). */
  mappings: number;
}

/** Resident memory by kind of mapping; reads the whole smaps file (a few ms: not every second). */
export async function rssParts(pid: number): Promise<RssParts> {
  const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const parts = { brk: 0, anon: 0, file: 0, mappings: 0 };
  let kind: 'brk' | 'anon' | 'file' = 'anon';
  for (const line of smaps.split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]"; then "Key: value kB" lines.
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const path = header[2] ?? '';
      kind = path === '[heap]' ? 'brk' : header[1] !== '0' ? 'file' : 'anon';
      parts.mappings++;
      continue;
    }
    if (line.startsWith('Rss:')) parts[kind] += Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
  }
  return parts;
}

/** User + system CPU time consumed so far, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Open file descriptors right now. */
export async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** The soft and hard "Max open files" of a process. */
export async function fileLimit(pid: number | 'self'): Promise<{ soft: number; hard: number }> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const parse = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Infinity : Number(v));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

export interface Point {
  /** Seconds since the run started. */
  t: number;
  value: number;
}

/** Least-squares slope of `value` over `t`, per minute; NaN with fewer than two distinct times. */
export function slopePerMinute(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanT = points.reduce((s, p) => s + p.t, 0) / n;
  const meanV = points.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.value - meanV);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den) * 60;
}

/** CPU time the whole machine spent busy (all CPUs, everything but idle and iowait), in seconds. */
export async function machineBusySeconds(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const [user, nice, system, , , irq, softirq, steal] = (stat.split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
    TICKS_PER_SECOND
  );
}
