// Reads a process's resident memory and CPU time from /proc (Linux only). The benchmark
// samples these for the Muon server and client around each workload.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

/** Sum of CPU seconds over several processes (missing ones count as 0). */
export function totalCpuSeconds(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readCpuSeconds(pid) ?? 0;
  return sum;
}

/** Polls RSS of some processes at a fixed interval and keeps the peak of each. */
export class RssPeakSampler {
  readonly #pids: readonly number[];
  readonly #peaks: number[];
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: readonly number[], intervalMs = 100) {
    this.#pids = pids;
    this.#peaks = pids.map(() => 0);
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    for (let i = 0; i < this.#pids.length; i++) {
      const rss = readRssBytes(this.#pids[i] ?? 0) ?? 0;
      if (rss > (this.#peaks[i] ?? 0)) this.#peaks[i] = rss;
    }
  }

  /** Stops sampling (idempotent) and returns the peak RSS in bytes of each process, in order. */
  stop(): number[] {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#sample();
    }
    return [...this.#peaks];
  }
}
