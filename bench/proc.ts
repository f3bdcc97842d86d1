// Reads a process's resident memory, CPU time and open-file limit from /proc (Linux only). The
// benchmark samples these for the tunnel's server and client around each workload.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second used by /proc/PID/stat (USER_HZ; 100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    clockTicks = 100;
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
      if (Number.isInteger(n) && n > 0) clockTicks = n;
    } catch {
      // getconf missing: keep the Linux default.
    }
  }
  return clockTicks;
}

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/** Summed VmRSS of several processes (a tunnel side made of several, e.g. sshd); 0 when all are gone. */
export function totalRssBytes(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readRssBytes(pid) ?? 0;
  return sum;
}

/** Soft and hard limit on open files ("Max open files" in /proc/PID/limits). */
export function readOpenFileLimit(pid: number | 'self'): { soft: number; hard: number } | undefined {
  let limits: string;
  try {
    limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const value = (text: string): number => (text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text));
  return { soft: value(match[1]), hard: value(match[2]) };
}

/** Open file descriptors of some processes now (entries of /proc/PID/fd), summed. */
export function countOpenFiles(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone, or not ours to read
    }
  }
  return sum;
}

/** The parent PID of every process (from /proc/PID/stat), for walking a process tree. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      map.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  return map;
}

/** `pid` and all its descendants alive now (sshd forks a monitor and a session process). */
export function processTree(pid: number): number[] {
  const parentOf = parents();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** User + system CPU seconds consumed so far, or undefined when the process is gone. */
export function readCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields after the last ')'
  // start at field 3 (state), so utime and stime (fields 14 and 15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / ticksPerSecond();
}

/**
 * The machine's CPU time so far, from the first line of /proc/stat: all of it, and the part a
 * hypervisor gave to other guests ("steal"). On a shared virtual machine the difference of two
 * readings tells how much of a run's CPU was not ours to use; undefined off Linux.
 */
export function readMachineCpu(): { total: number; steal: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const fields = (stat.split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const counted = fields.slice(0, 8);
  if (counted.length < 8 || counted.some((n) => !Number.isFinite(n))) return undefined;
  return { total: counted.reduce((a, b) => a + b, 0), steal: counted[7] as number };
}

/** Sum of CPU seconds over several processes (missing ones count as 0). */
export function totalCpuSeconds(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readCpuSeconds(pid) ?? 0;
  return sum;
}

/** Polls RSS at a fixed interval and keeps the peak of each group of processes (summed per group). */
export class RssPeakSampler {
  readonly #groups: readonly (readonly number[])[];
  readonly #peaks: number[];
  #timer: NodeJS.Timeout | undefined;

  constructor(groups: readonly (readonly number[])[], intervalMs = 100) {
    this.#groups = groups;
    this.#peaks = groups.map(() => 0);
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    for (let i = 0; i < this.#groups.length; i++) {
      const rss = totalRssBytes(this.#groups[i] ?? []);
      if (rss > (this.#peaks[i] ?? 0)) this.#peaks[i] = rss;
    }
  }

  /** Stops sampling (idempotent) and returns the peak RSS in bytes of each group, in order. */
  stop(): number[] {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#sample();
    }
    return [...this.#peaks];
  }
}
