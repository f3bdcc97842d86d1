// Peer tools measured beside Muon when they are installed: iperf3 (bulk) and wrk (HTTP
// keep-alive), each against its own server, directly and through every tunnel; this module
// finds the tools and starts those servers (iperf3 -s, http-target.ts) on 127.0.0.1.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type Child, parseJsonLine, type SpawnOptions, spawnNode, spawnProcess } from './child.ts';
import { freePorts } from './muon.ts';

export const PEER_TOOLS = ['iperf3', 'wrk'] as const;
export type PeerTool = (typeof PEER_TOOLS)[number];

/** Ports of the peer tools' servers (directly, or the tunnel's public ports in front of them). */
export interface PeerPorts {
  iperf3?: number;
  http?: number;
  /** A second target process's source, for the `mixed` workload's download. */
  bulkSource?: number;
}

// sshd lives in an sbin directory, which is often not on a non-root user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in an sbin directory), or undefined. */
export function findTool(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const file = join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface PeerTargets {
  /** Target ports of the servers started (a tool that is not used has none). */
  readonly ports: PeerPorts;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** Starts `iperf3 -s` and the HTTP target for the tools given; both listen on 127.0.0.1. */
export async function startPeerTargets(
  root: string,
  tools: ReadonlySet<PeerTool>,
  spawn: SpawnOptions = {},
): Promise<PeerTargets> {
  const children: Child[] = [];
  const ports: PeerPorts = {};
  const stop = async (): Promise<void> => {
    for (const child of children) await child.stop();
  };
  try {
    const iperf3 = tools.has('iperf3') ? findTool('iperf3') : undefined;
    if (iperf3 !== undefined) {
      const [port = 0] = await freePorts(1);
      // --forceflush: iperf3 buffers stdout when it is a pipe, and its ready line would wait.
      const server = spawnProcess(
        iperf3,
        ['-s', '-B', '127.0.0.1', '-p', String(port), '--forceflush'],
        root,
        spawn,
      );
      children.push(server);
      await server.waitFor('iperf3 -s', 10_000, (line) =>
        line.includes('Server listening') ? true : undefined,
      );
      ports.iperf3 = port;
    }
    if (tools.has('wrk') && findTool('wrk') !== undefined) {
      const http = spawnNode([join(root, 'bench', 'http-target.ts')], root, spawn);
      children.push(http);
      const ready = await http.waitFor('http target', 10_000, (line) => {
        const json = parseJsonLine(line);
        return json?.event === 'ready' ? json : undefined;
      });
      ports.http = Number(ready.port);
    }
    return { ports, pids: children.map((c) => c.pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
