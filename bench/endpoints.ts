// One mode's endpoint: what the workloads connect to and which processes they measure. Direct
// is the target itself; plain and tls start a Muon server and client; ssh starts sshd and
// `ssh -R`. Each tunnel maps the four target services, the peer tools' servers and the second
// target's source (for the `mixed` workload).

import { muonAvailable, type ServicePorts, startMuon } from './muon.ts';
import type { PeerPorts } from './peers.ts';
import { totalRssBytes } from './proc.ts';
import type { Mode } from './report.ts';
import { startSshTunnel } from './ssh-tunnel.ts';
import type { Endpoint } from './workloads.ts';

export interface Target {
  readonly pid: number;
  readonly ports: ServicePorts;
  /** Its RSS before any load: the direct column's idle memory. */
  readonly idleRss: number;
}

export interface BenchContext {
  readonly root: string;
  readonly target: Target;
  readonly peerTargets: PeerPorts;
  /** Open files each tunnel process may need (fdsFor() of the most connections held). */
  readonly nofile: number;
}

export interface OpenEndpoint {
  readonly ep: Endpoint;
  /** RSS of each side before any load (0.5 s after the tunnel first worked). */
  readonly idle: { server: number; client: number };
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function definedPorts(ports: PeerPorts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, port] of Object.entries(ports)) if (typeof port === 'number') out[name] = port;
  return out;
}

/** Starts what `mode` needs; throws (with a reason for the notes) when it cannot. */
export async function openEndpoint(mode: Mode, ctx: BenchContext): Promise<OpenEndpoint> {
  const { target } = ctx;
  if (mode === 'direct') {
    const ep: Endpoint = {
      mode,
      ports: target.ports,
      peerPorts: ctx.peerTargets,
      server: [target.pid],
      client: [target.pid],
      tunnel: false,
    };
    return { ep, idle: { server: target.idleRss, client: target.idleRss }, stop: async () => {} };
  }
  const extra = definedPorts(ctx.peerTargets);
  let ep: Endpoint;
  let stop: () => Promise<void>;
  if (mode === 'ssh') {
    const ssh = await startSshTunnel({ ...target.ports, ...extra }, 'echo', { nofile: ctx.nofile });
    const forwarded = (name: keyof ServicePorts): number => ssh.ports[name] ?? 0;
    const ports: ServicePorts = {
      echo: forwarded('echo'),
      sink: forwarded('sink'),
      source: forwarded('source'),
      banner: forwarded('banner'),
    };
    const peerPorts: PeerPorts = {};
    if (ssh.ports.iperf3 !== undefined) peerPorts.iperf3 = ssh.ports.iperf3;
    if (ssh.ports.http !== undefined) peerPorts.http = ssh.ports.http;
    if (ssh.ports.bulkSource !== undefined) peerPorts.bulkSource = ssh.ports.bulkSource;
    ep = { mode, ports, peerPorts, server: ssh.serverPids, client: [ssh.clientPid], tunnel: true };
    stop = ssh.stop;
  } else {
    if (!muonAvailable(ctx.root))
      throw new Error('dist/muon.js could not be built (scripts/build-server.sh)');
    const muon = await startMuon(ctx.root, mode, target.ports, extra, { nofile: ctx.nofile });
    const peerPorts: PeerPorts = {};
    if (muon.extraPorts.iperf3 !== undefined) peerPorts.iperf3 = muon.extraPorts.iperf3;
    if (muon.extraPorts.http !== undefined) peerPorts.http = muon.extraPorts.http;
    if (muon.extraPorts.bulkSource !== undefined) peerPorts.bulkSource = muon.extraPorts.bulkSource;
    ep = {
      mode,
      ports: muon.ports,
      peerPorts,
      server: [muon.serverPid],
      client: [muon.clientPid],
      tunnel: true,
    };
    stop = muon.stop;
  }
  await sleep(500); // settle before the idle memory reading
  return { ep, idle: { server: totalRssBytes(ep.server), client: totalRssBytes(ep.client) }, stop };
}
