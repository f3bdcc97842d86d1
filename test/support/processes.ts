// Real `muon server` and `muon client` processes on loopback, for fault tests: a Fleet owns a
// temp directory and every process it spawns, and kills them all (and removes the directory)
// when the test ends, failed or not. Processes log JSON lines that tests wait on and time.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readNodeFlags } from '../../scripts/node-flags.ts';
import { dial, freePort, readAll, waitFor } from './net.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
/** The V8 flags bin/muon starts Muon with: the processes here run as users run them. */
const NODE_FLAGS = readNodeFlags(join(import.meta.dirname, '../..'));
/** The bundle users run (bin/muon), built from src/ by scripts/build-server.sh. */
export const BUNDLE = join(import.meta.dirname, '../../dist/muon.js');
export const ADMIN_PASSWORD = 'fault-suite-admin-password';
/** Lets the fault tests read /metrics like a Prometheus scraper would. */
const METRICS_TOKEN = 'fault-suite-metrics-token-0123456789';

/** Every child still running, killed if the test process exits without cleaning up. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface TcpSocket {
  localPort: number;
  remotePort: number;
  state: string;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

export interface LogLine {
  msg?: string;
  time?: string;
  code?: string;
  [field: string]: unknown;
}

/** One `node src/cli/main.ts …` child (or another entry, such as the bundle), with its output kept in memory. */
export class MuonProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stdout = '';
  #stderr = '';
  #stopped = false;

  /**
   * `entry`: the script Node runs (src/cli/main.ts, or BUNDLE). `fileLimit`: start it through the
   * shell under that open-file limit (`ulimit -n`).
   */
  constructor(
    name: string,
    args: string[],
    env: Record<string, string> = {},
    options: { entry?: string; fileLimit?: number } = {},
  ) {
    this.name = name;
    // The test runner's MUON_… variables must not leak into the child's configuration.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MUON_')));
    const node = [process.execPath, ...NODE_FLAGS, options.entry ?? MAIN, ...args];
    // `exec` keeps one process: the limit applies to Muon itself, and signals reach it.
    const [command = process.execPath, ...rest] =
      options.fileLimit === undefined
        ? node
        : ['sh', '-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, ...node];
    this.child = spawn(command, rest, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...base, ...env },
    });
    live.add(this.child);
    this.child.stdout?.on('data', (c: Buffer) => {
      this.#stdout += c;
    });
    this.child.stderr?.on('data', (c: Buffer) => {
      this.#stderr += c;
    });
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      live.delete(this.child);
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** stdout and stderr, for assertion messages. */
  get output(): string {
    return `${this.#stdout}\n${this.#stderr}`;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The JSON log lines written to stdout so far. */
  logs(): LogLine[] {
    const lines: LogLine[] = [];
    for (const text of this.#stdout.split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        // A line still being written.
      }
    }
    return lines;
  }

  /** Log lines whose message is `msg`. */
  logsOf(msg: string): LogLine[] {
    return this.logs().filter((l) => l.msg === msg);
  }

  /** Waits for the `count`-th log line with message `msg` and returns it. */
  async waitForLog(msg: string, options: { count?: number; ms?: number } = {}): Promise<LogLine> {
    const count = options.count ?? 1;
    await waitFor(
      () => this.logsOf(msg).length >= count || !this.running,
      options.ms ?? 15_000,
      `${this.name}: log "${msg}" #${count}`,
    );
    const line = this.logsOf(msg)[count - 1];
    if (!line) throw new Error(`${this.name} exited before logging "${msg}":\n${this.output}`);
    return line;
  }

  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGSTOP') this.#stopped = true;
    if (signal === 'SIGCONT') this.#stopped = false;
    if (this.running) this.child.kill(signal);
  }

  /** Resident memory now, in KiB (VmRSS from /proc). */
  async rssKiB(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match?.[1]) throw new Error(`no VmRSS for ${this.name}`);
    return Number(match[1]);
  }

  /** The process's TCP sockets (from /proc/<pid>/fd and /proc/<pid>/net/tcp): a leak shows here. */
  async tcpSockets(): Promise<TcpSocket[]> {
    const inodes = new Set<string>();
    for (const fd of await readdir(`/proc/${this.pid}/fd`).catch(() => [])) {
      const link = await readlink(`/proc/${this.pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode) inodes.add(inode);
    }
    const sockets: TcpSocket[] = [];
    for (const table of ['tcp', 'tcp6']) {
      const text = await readFile(`/proc/${this.pid}/net/${table}`, 'utf8').catch(() => '');
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !inodes.has(f[9] as string)) continue;
        sockets.push({
          localPort: Number.parseInt((f[1] as string).split(':')[1] as string, 16),
          remotePort: Number.parseInt((f[2] as string).split(':')[1] as string, 16),
          state: TCP_STATES[f[3] as string] ?? (f[3] as string),
        });
      }
    }
    return sockets;
  }

  /** SIGTERM (after SIGCONT if stopped); SIGKILL if it has not exited within `ms`. */
  async stop(ms = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      if (this.#stopped) this.signal('SIGCONT');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
      const result = await this.exited;
      clearTimeout(timer);
      return result;
    }
    return this.exited;
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface MappingSpec {
  port: number;
  target: string;
}

export interface LicenseSpec {
  name: string;
  key: string;
  mappings: MappingSpec[];
}

export interface ServerSpec {
  licenses: LicenseSpec[];
  /** Extra top-level YAML lines: `heartbeat: …`, `limits: …`. */
  yaml?: string[];
}

/** Parsed Prometheus text: `value(name)` sums every series of a metric. */
export class MetricsSnapshot {
  readonly series = new Map<string, number>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      this.series.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
  }

  value(name: string): number {
    let sum = 0;
    for (const [key, v] of this.series) if (key === name || key.startsWith(`${name}{`)) sum += v;
    return sum;
  }
}

/** A `muon server` process with its ports and data directory; restartable on the same ones. */
export class ServerHandle {
  readonly fleet: Fleet;
  readonly configFile: string;
  readonly tunnelPort: number;
  readonly plainPort: number;
  readonly adminPort: number;
  proc: MuonProcess;
  fingerprint = '';
  #starts = 0;

  constructor(fleet: Fleet, configFile: string, ports: { tunnel: number; plain: number; admin: number }) {
    this.fleet = fleet;
    this.configFile = configFile;
    this.tunnelPort = ports.tunnel;
    this.plainPort = ports.plain;
    this.adminPort = ports.admin;
    this.proc = this.#spawn();
  }

  #spawn(): MuonProcess {
    this.#starts++;
    // The first start creates the user admin with MUON_ADMIN_PASSWORD; later starts ignore it.
    return this.fleet.spawn(
      `server#${this.#starts}`,
      [
        'server',
        '--config',
        this.configFile,
        '--tunnel-port',
        String(this.tunnelPort),
        '--plain-port',
        String(this.plainPort),
        '--admin-port',
        String(this.adminPort),
      ],
      { MUON_ADMIN_PASSWORD: ADMIN_PASSWORD },
    );
  }

  /** Waits until the current process logs `muon server ready`; returns that log line. */
  async ready(): Promise<LogLine> {
    const line = await this.proc.waitForLog('muon server ready', { ms: 20_000 });
    this.fingerprint = String(line.fingerprint);
    return line;
  }

  /** Starts a new process on the same config, ports and data directory (the old one must be gone). */
  async restart(): Promise<LogLine> {
    this.proc = this.#spawn();
    return this.ready();
  }

  get admin(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  async metrics(): Promise<MetricsSnapshot> {
    const response = await fetch(`${this.admin}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    return new MetricsSnapshot(await response.text());
  }

  async login(): Promise<string> {
    const response = await fetch(`${this.admin}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    if (response.status !== 200) throw new Error(`login answered ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  }

  /** GET `path` on the admin API with a session token; the parsed JSON. */
  async get<T = unknown>(path: string, token: string): Promise<T> {
    const response = await fetch(this.admin + path, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
    return (await response.json()) as T;
  }
}

export interface ClientSpec {
  minIdle?: number;
  logLevel?: string;
  reconnect?: { initialDelay: string; maxDelay: string };
  connectTimeout?: string;
}

/** Owns a temp directory and every process started through it; close() ends them all. */
export class Fleet {
  readonly dir: string;
  readonly processes: MuonProcess[] = [];
  readonly #entry: string;
  #closed: Promise<void> | undefined;

  private constructor(dir: string, entry: string) {
    this.dir = dir;
    this.#entry = entry;
  }

  /**
   * A fleet whose cleanup is registered with `after` (a test's t.after, or a suite's after). Its
   * processes run src/cli/main.ts, or `entry` (BUNDLE: what users run).
   */
  static async create(after: (cleanup: () => Promise<void>) => void, entry = MAIN): Promise<Fleet> {
    const fleet = new Fleet(await mkdtemp(join(tmpdir(), 'muon-faults-')), entry);
    after(() => fleet.close());
    return fleet;
  }

  spawn(name: string, args: string[], env: Record<string, string> = {}): MuonProcess {
    const proc = new MuonProcess(name, args, env, { entry: this.#entry });
    this.processes.push(proc);
    return proc;
  }

  /** Writes the server's YAML (licenses, loopback only) and starts it; resolves once it is ready. */
  async server(spec: ServerSpec, attempt = 1): Promise<ServerHandle> {
    const [tunnel, plain, admin] = await Promise.all([freePort(), freePort(), freePort()]);
    const file = join(this.dir, 'server.yaml');
    const lines = [
      `dataDir: ${JSON.stringify(join(this.dir, 'data'))}`,
      'tunnel: { host: 127.0.0.1 }',
      'publicHost: 127.0.0.1',
      `admin: { host: 127.0.0.1, metricsToken: ${METRICS_TOKEN} }`,
      ...(spec.yaml ?? []),
      'licenses:',
      ...spec.licenses.flatMap((l) => [
        `  - name: ${l.name}`,
        `    key: ${JSON.stringify(l.key)}`,
        '    mappings:',
        ...l.mappings.map((m) => `      - { protocol: tcp, port: ${m.port}, target: "${m.target}" }`),
      ]),
    ];
    await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    const server = new ServerHandle(this, file, { tunnel, plain, admin });
    try {
      await server.ready();
    } catch (error) {
      // freePort() cannot reserve a port: another process may take it first. Try other ports.
      if (attempt < 3 && server.proc.output.includes('EADDRINUSE')) return this.server(spec, attempt + 1);
      throw error;
    }
    return server;
  }

  /** Writes a client YAML (TLS, pinned fingerprint, key in the file: never on the command line) and starts it. */
  async client(server: ServerHandle, name: string, key: string, spec: ClientSpec = {}): Promise<MuonProcess> {
    const file = join(this.dir, `client-${name}.yaml`);
    const reconnect = spec.reconnect ?? { initialDelay: '200ms', maxDelay: '2s' };
    await writeFile(
      file,
      [
        `server: 127.0.0.1:${server.tunnelPort}`,
        `license: ${JSON.stringify(key)}`,
        `tls: { fingerprint: "${server.fingerprint}" }`,
        `pool: { minIdle: ${spec.minIdle ?? 2} }`,
        `reconnect: { initialDelay: ${reconnect.initialDelay}, maxDelay: ${reconnect.maxDelay} }`,
        `connectTimeout: ${spec.connectTimeout ?? '2s'}`,
        ...(spec.logLevel ? [`log: { level: ${spec.logLevel} }`] : []),
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return this.spawn(`client-${name}`, ['client', '--config', file]);
  }

  /** Kills every process (SIGCONT first for stopped ones), then removes the directory. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all(
        this.processes.map(async (p) => {
          p.signal('SIGCONT');
          await p.kill();
        }),
      );
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.#closed;
  }
}

/** One visitor request: sends `text`, half-closes, and expects it echoed back. Never throws. */
export async function echoes(port: number, text = 'ping', ms = 2000): Promise<boolean> {
  let socket: Awaited<ReturnType<typeof dial>> | undefined;
  try {
    socket = await dial(port);
    const current = socket;
    current.on('error', () => {});
    const reply = readAll(current);
    current.end(text);
    const answer = await Promise.race([reply, sleep(ms).then(() => undefined)]);
    return answer?.toString() === text;
  } catch {
    return false;
  } finally {
    socket?.destroy();
  }
}

/** Milliseconds since `since` (performance.now() based). */
export function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}
