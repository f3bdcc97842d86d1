// Starts a Muon server and client (two child processes) in front of the target service and
// waits until a round trip through a mapped public port works. Used by run.ts for the
// `plain` and `tls` modes; everything listens on 127.0.0.1 and lives in a temporary directory.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { readNodeFlags } from '../scripts/node-flags.ts';
import { parseJsonLine, type SpawnOptions, spawnNode } from './child.ts';
import type { TunnelMode } from './report.ts';
import { ChildGroup } from './temp-dirs.ts';

/** Ports of the four target services (see target.ts); also the shape of the public ports. */
export interface ServicePorts {
  echo: number;
  sink: number;
  source: number;
  banner: number;
}

export interface RunningMuon {
  readonly ports: ServicePorts;
  /** Public ports of the extra targets (peer tools' servers), by the names they were given. */
  readonly extraPorts: Readonly<Record<string, number>>;
  readonly serverPid: number;
  readonly clientPid: number;
  /** Ends both processes and removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const ROUND_TRIP_TIMEOUT_MS = 10_000;
const FINGERPRINT = /\b((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\b/;

/** The bundle users run (bin/muon, `npm start`): built from src/ by scripts/build-server.sh. */
export function cliPath(root: string): string {
  return join(root, 'dist', 'muon.js');
}

/**
 * Node options for Muon's server and client only (not the load generator or the target): those of
 * bin/muon, then MUON_BENCH_NODE_OPTIONS, e.g. "--max-semi-space-size=1", to compare runtime
 * settings (a later V8 flag wins, so "--no-external-memory-accounted-in-global-limit" undoes one).
 */
function muonNodeOptions(root: string): string[] {
  const extra = (process.env.MUON_BENCH_NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o !== '');
  return [...readNodeFlags(root), ...extra];
}

/**
 * MUON_BENCH_POOLED=1: the client uses one proxy channel per visitor (`pool.mux: false`) instead of
 * the multiplexed carrier, to compare the two data paths.
 */
export function pooledChannels(): boolean {
  return process.env.MUON_BENCH_POOLED === '1';
}

/** Brings the bundle up to date (a no-op when it is) and says whether it is there. */
export function muonAvailable(root: string): boolean {
  const built = spawnSync('sh', [join(root, 'scripts', 'build-server.sh')], { stdio: 'inherit' });
  return built.status === 0 && existsSync(cliPath(root));
}

/** Distinct free TCP ports on 127.0.0.1 (all held open together so none repeats). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0 }, resolve);
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function serverConfig(
  dataDir: string,
  key: string,
  tunnelPort: number,
  plainPort: number | undefined,
  adminPort: number,
  mappings: readonly { publicPort: number; targetPort: number }[],
): string {
  const tunnel =
    plainPort === undefined
      ? `{ host: 127.0.0.1, port: ${tunnelPort} }`
      : `{ host: 127.0.0.1, port: ${tunnelPort}, plainPort: ${plainPort} }`;
  const mapping = (m: { publicPort: number; targetPort: number }): string =>
    `      - { protocol: tcp, port: ${m.publicPort}, target: "127.0.0.1:${m.targetPort}" }`;
  return [
    `dataDir: ${JSON.stringify(dataDir)}`,
    `tunnel: ${tunnel}`,
    'publicHost: 127.0.0.1',
    // The admin API and its SQLite store run as they do for operators, on a free port.
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    // info: the level operators run, and the level at which "muon server ready" is logged.
    'log: { level: info }',
    'licenses:',
    '  - name: bench',
    `    key: "${key}"`,
    '    mappings:',
    ...mappings.map(mapping),
    '',
  ].join('\n');
}

/** One byte through the public echo port and back, retried until it works or time runs out. */
export async function waitForRoundTrip(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => finish(false, 'no reply within 1 s'), 1000);
      const finish = (result: boolean, why: string): void => {
        clearTimeout(timer);
        lastError = why;
        socket.destroy();
        resolve(result);
      };
      socket.on('connect', () => socket.write('m'));
      socket.on('data', () => finish(true, ''));
      socket.on('error', (e) => finish(false, e.message));
      socket.on('close', () => finish(false, 'closed'));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no round trip through public port ${port} within ${timeoutMs} ms (${lastError})`);
}

/**
 * Starts server + client for `mode`, mapping public ports to the given target ports, and to the
 * `extra` ones (named target ports). `spawn.nofile` raises both processes' open-file limit.
 */
export async function startMuon(
  root: string,
  mode: TunnelMode,
  targets: ServicePorts,
  extra: Readonly<Record<string, number>> = {},
  spawn: SpawnOptions = {},
): Promise<RunningMuon> {
  const group = await ChildGroup.create('muon-bench-');
  const dir = group.dir;
  const stop = (): Promise<void> => group.stop();
  try {
    const extraNames = Object.keys(extra);
    const ports = await freePorts(7 + extraNames.length);
    const [tunnelPort, plainPort, adminPort, echo, sink, source, banner] = ports as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const publicPorts: ServicePorts = { echo, sink, source, banner };
    const extraPublic = ports.slice(7);
    const extraPorts: Record<string, number> = {};
    const mappings = (Object.keys(publicPorts) as (keyof ServicePorts)[]).map((name) => ({
      publicPort: publicPorts[name],
      targetPort: targets[name],
    }));
    extraNames.forEach((name, i) => {
      const publicPort = extraPublic[i] ?? 0;
      extraPorts[name] = publicPort;
      mappings.push({ publicPort, targetPort: extra[name] ?? 0 });
    });
    const key = randomBytes(32).toString('hex');
    const configFile = join(dir, 'server.yaml');
    const usePlain = mode === 'plain' ? plainPort : undefined;
    await writeFile(
      configFile,
      serverConfig(join(dir, 'data'), key, tunnelPort, usePlain, adminPort, mappings),
      {
        mode: 0o600,
      },
    );

    const server = spawnNode(
      [...muonNodeOptions(root), cliPath(root), 'server', '--config', configFile],
      root,
      spawn,
    );
    group.add(server);
    // Ready line (JSON on stdout) carries the fingerprint; stderr may also print it first.
    let fingerprint: string | undefined;
    await server.waitFor('muon server ready', START_TIMEOUT_MS, (line) => {
      const found = FINGERPRINT.exec(line)?.[1];
      if (found !== undefined) fingerprint = found;
      const json = parseJsonLine(line);
      return json?.msg === 'muon server ready' ? true : undefined;
    });
    if (mode === 'tls' && fingerprint === undefined)
      throw new Error('server printed no certificate fingerprint');

    const serverArgs =
      mode === 'tls'
        ? ['--server', `127.0.0.1:${tunnelPort}`, '--fingerprint', fingerprint ?? '']
        : ['--server', `127.0.0.1:${plainPort}`, '--plain'];
    const clientConfig: string[] = [];
    if (pooledChannels()) {
      const file = join(dir, 'client.yaml');
      await writeFile(file, 'pool:\n  mux: false\n', { mode: 0o600 });
      clientConfig.push('--config', file);
    }
    const client = spawnNode(
      [...muonNodeOptions(root), cliPath(root), 'client', ...clientConfig, ...serverArgs, '--license', key],
      root,
      spawn,
    );
    group.add(client);
    await client.waitFor('client online', START_TIMEOUT_MS, (line) =>
      parseJsonLine(line)?.msg === 'client online' ? true : undefined,
    );
    await waitForRoundTrip(publicPorts.echo, ROUND_TRIP_TIMEOUT_MS);
    return { ports: publicPorts, extraPorts, serverPid: server.pid, clientPid: client.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
