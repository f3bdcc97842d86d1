// Child processes of the benchmark: spawned through one registry so that every one of them is
// ended (by its own PID) when the run finishes, fails or is interrupted. Node processes, peer
// tools (iperf3, wrk, sshd, ssh) and short commands whose whole output is wanted.

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readOpenFileLimit } from './proc.ts';

const live = new Set<ChildProcess>();

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** The last lines of stdout and stderr, for error messages. */
  readonly tail: string[];
  /** Resolves with the first stdout/stderr line for which `match` returns a value. */
  waitFor<T>(what: string, timeoutMs: number, match: (line: string) => T | undefined): Promise<T>;
  /** Resolves when the process has exited (immediately if it already has). */
  exited(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 20;

export interface SpawnOptions {
  /**
   * Open files the process needs. When that is above our own soft limit the command is started
   * through `sh` raising the limit first (the hard limit too, which only root may raise; Node
   * raises its own soft limit to the hard one at start). `exec` keeps the PID.
   */
  nofile?: number;
}

/** The command and arguments that start `command` with at least `nofile` open files allowed. */
function withFileLimit(command: string, args: readonly string[], nofile: number | undefined): string[] {
  const own = readOpenFileLimit('self');
  if (nofile === undefined || own === undefined || nofile <= own.soft) return [command, ...args];
  const n = String(Math.ceil(nofile));
  const script = `ulimit -Hn ${n} 2>/dev/null; ulimit -Sn ${n} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$@"`;
  return ['/bin/sh', '-c', script, 'sh', command, ...args];
}

/**
 * Spawns `node <args>` with the current Node binary. Both output streams are read for the
 * whole life of the process (a full pipe would otherwise block the child's logging).
 * stdin stays an open pipe: our own children exit when it ends, i.e. when we die.
 */
export function spawnNode(args: readonly string[], cwd: string, options: SpawnOptions = {}): Child {
  return spawnProcess(process.execPath, args, cwd, options);
}

/** Spawns any command the same way (peer tools: they get SIGTERM, then SIGKILL, at the end). */
export function spawnProcess(
  command: string,
  args: readonly string[],
  cwd: string,
  options: SpawnOptions = {},
): Child {
  const [file = command, ...argv] = withFileLimit(command, args, options.nofile);
  const child = spawn(file, argv, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${command} ${args.join(' ')}`);
  live.add(child);
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exitWaiters: Array<() => void> = [];
  child.once('exit', () => {
    exited = true;
    live.delete(child);
    for (const w of exitWaiters.splice(0)) w();
  });
  child.on('error', () => {
    // Reported through 'exit' / waitFor timeouts; keep the process alive.
  });
  child.stdin?.on('error', () => {});

  const tail: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    for (const l of listeners) l(line);
  };
  if (child.stdout) createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', onLine);
  if (child.stderr) createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', onLine);

  const exitedPromise = (): Promise<void> =>
    exited ? Promise.resolve() : new Promise<void>((resolve) => exitWaiters.push(resolve));

  let stopping: Promise<void> | undefined;
  return {
    process: child,
    pid: child.pid,
    tail,
    waitFor<T>(what: string, timeoutMs: number, match: (line: string) => T | undefined): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          child.off('exit', onExit);
        };
        const listener = (line: string): void => {
          const value = match(line);
          if (value !== undefined) {
            done();
            resolve(value);
          }
        };
        const onExit = (): void => {
          done();
          reject(
            new Error(
              `${what}: process exited (${child.exitCode ?? child.signalCode}); last output:\n${tail.join('\n')}`,
            ),
          );
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${what}: timed out after ${timeoutMs} ms; last output:\n${tail.join('\n')}`));
        }, timeoutMs);
        listeners.add(listener);
        if (exited) onExit();
        else child.once('exit', onExit);
      });
    },
    exited: exitedPromise,
    stop(graceMs = 3000): Promise<void> {
      stopping ??= (async () => {
        if (exited) return;
        child.stdin?.end();
        child.kill('SIGTERM');
        const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exitedPromise();
        clearTimeout(killTimer);
      })();
      return stopping;
    },
  };
}

export interface Completed {
  /** Exit code, or undefined when the process was killed (by a signal or the timeout). */
  code: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and returns its whole output; killed after `timeoutMs`. */
export function runCommand(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
): Promise<Completed> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => stdout.push(b));
    child.stderr?.on('data', (b: Buffer) => stderr.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let settled = false;
    const finish = (code: number | null, error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      live.delete(child);
      resolve({
        code: code ?? undefined,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + (error === undefined ? '' : error.message),
      });
    };
    child.once('error', (error) => finish(null, error));
    child.once('close', (code) => finish(code));
  });
}

/** Synchronously sends SIGKILL to every child still alive (for exit and signal handlers). */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/** Parses a line as a JSON object, or undefined when it is not one. */
export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
