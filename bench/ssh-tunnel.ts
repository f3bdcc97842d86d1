// OpenSSH `ssh -R` as a peer tunnel: a throwaway sshd on 127.0.0.1 with its own config, a
// generated host key and authorized key in a temporary directory (the system's sshd config and
// ~/.ssh are never read), and one `ssh -N -R` client forwarding a public port per target.

import { readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { runCommand, type SpawnOptions, spawnProcess } from './child.ts';
import { freePorts, waitForRoundTrip } from './muon.ts';
import { findTool } from './peers.ts';
import { processTree } from './proc.ts';
import { ChildGroup } from './temp-dirs.ts';

export interface RunningSsh {
  /** Public (forwarded) port of each target, by the names they were given. */
  readonly ports: Readonly<Record<string, number>>;
  /** The listening sshd and the processes it forked for our connection (monitor, session). */
  readonly serverPids: readonly number[];
  readonly clientPid: number;
  /** Ends ssh and sshd and removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

/** Why `ssh -R` cannot run here, or undefined when it can (sshd, ssh and ssh-keygen found). */
export function sshUnavailable(): string | undefined {
  const missing = ['sshd', 'ssh', 'ssh-keygen'].filter((tool) => findTool(tool) === undefined);
  return missing.length > 0 ? `${missing.join(', ')} not installed` : undefined;
}

function sshdConfig(dir: string, port: number): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'AddressFamily inet',
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PidFile none',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    // The temporary directory is ours; its owner and modes need not pass sshd's home checks.
    'StrictModes no',
    'AllowTcpForwarding remote',
    'GatewayPorts no',
    'X11Forwarding no',
    'PrintMotd no',
    'LogLevel INFO',
    '',
  ].join('\n');
}

async function keygen(tool: string, file: string): Promise<void> {
  const run = await runCommand(
    tool,
    ['-q', '-t', 'ed25519', '-N', '', '-C', 'muon-bench', '-f', file],
    '/',
    10_000,
  );
  if (run.code !== 0) throw new Error(`ssh-keygen failed: ${run.stderr.trim()}`);
}

/** Starts sshd and `ssh -R` for every target port; resolves once a byte crosses the echo forward. */
export async function startSshTunnel(
  targets: Readonly<Record<string, number>>,
  echoName: string,
  spawn: SpawnOptions = {},
): Promise<RunningSsh> {
  const sshd = findTool('sshd');
  const ssh = findTool('ssh');
  const sshKeygen = findTool('ssh-keygen');
  if (sshd === undefined || ssh === undefined || sshKeygen === undefined)
    throw new Error('OpenSSH not installed');
  const group = await ChildGroup.create('muon-bench-ssh-');
  const dir = group.dir;
  const stop = (): Promise<void> => group.stop();
  try {
    const names = Object.keys(targets);
    const [sshPort = 0, ...publicList] = await freePorts(1 + names.length);
    await keygen(sshKeygen, join(dir, 'host_key'));
    await keygen(sshKeygen, join(dir, 'user_key'));
    const hostPublic = (await readFile(join(dir, 'host_key.pub'), 'utf8')).trim();
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'user_key.pub')), { mode: 0o600 });
    await writeFile(join(dir, 'known_hosts'), `[127.0.0.1]:${sshPort} ${hostPublic}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, sshPort), { mode: 0o600 });

    // -D: stay in the foreground (our child); -e: log to stderr; sshd needs an absolute path.
    const server = spawnProcess(sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], dir, spawn);
    group.add(server);
    try {
      await server.waitFor('sshd', START_TIMEOUT_MS, (line) =>
        line.includes('Server listening on') ? true : undefined,
      );
    } catch (error) {
      // Run as root, sshd insists on its privilege-separation directory, which the
      // distribution's service creates at boot; we do not create it behind the operator's back.
      const privsep = server.tail.find((line) => line.includes('privilege separation directory'));
      if (privsep === undefined) throw error;
      throw new Error(`${privsep.trim()}: create it (e.g. \`mkdir -m 755 /run/sshd\`) to include ssh -R`);
    }

    const ports: Record<string, number> = {};
    const forwards: string[] = [];
    names.forEach((name, i) => {
      const publicPort = publicList[i] ?? 0;
      ports[name] = publicPort;
      forwards.push('-R', `127.0.0.1:${publicPort}:127.0.0.1:${targets[name]}`);
    });
    const options = {
      IdentitiesOnly: 'yes',
      IdentityAgent: 'none',
      BatchMode: 'yes',
      UserKnownHostsFile: join(dir, 'known_hosts'),
      GlobalKnownHostsFile: '/dev/null',
      StrictHostKeyChecking: 'yes',
      ExitOnForwardFailure: 'yes',
      ControlMaster: 'no',
      ControlPath: 'none',
      LogLevel: 'ERROR',
    };
    const args = ['-N', '-F', '/dev/null', '-i', join(dir, 'user_key'), '-p', String(sshPort)];
    for (const [key, value] of Object.entries(options)) args.push('-o', `${key}=${value}`);
    args.push(...forwards, `${userInfo().username}@127.0.0.1`);
    const client = spawnProcess(ssh, args, dir, spawn);
    group.add(client);

    const echo = ports[echoName];
    if (echo === undefined) throw new Error(`no target named ${echoName}`);
    // Whichever comes first: the forward works, or ssh gives up (ExitOnForwardFailure, auth).
    await Promise.race([
      waitForRoundTrip(echo, START_TIMEOUT_MS),
      client.exited().then(() => {
        throw new Error(`ssh exited: ${[...server.tail, ...client.tail].slice(-4).join(' | ')}`);
      }),
    ]);
    return { ports, serverPids: processTree(server.pid), clientPid: client.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
