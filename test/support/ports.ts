// Free ports for tests that must name a port before something listens on it (a server's YAML, a
// mapping, a target that is meant to be closed).
//
// Asking the kernel for port 0 and closing it again is not enough when test files run side by side:
// the kernel hands the same ephemeral ports to every process's listen(0) and to every outgoing
// connection, so the port can be taken before the test binds it. These ports therefore come from
// below the ephemeral range, where the kernel never assigns one on its own, and each is claimed for
// the whole test run with a lock file that only one process can create.

import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCKS = join(tmpdir(), 'muon-test-ports');
const LOWEST = 10_000;
const held = new Set<string>();

/** The first port of the kernel's ephemeral range; ports below it are never handed out by listen(0). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const HIGHEST = ephemeralLow() - 1;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function create(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    held.add(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

/** Claims the port for this process unless a live process holds it; a dead holder's claim is taken over. */
function claim(port: number): boolean {
  const file = join(LOCKS, String(port));
  if (create(file)) return true;
  let owner = Number.NaN;
  try {
    owner = Number(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
  if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) return false;
  try {
    unlinkSync(file);
  } catch {
    return false;
  }
  return create(file);
}

function release(port: number): void {
  const file = join(LOCKS, String(port));
  held.delete(file);
  try {
    unlinkSync(file);
  } catch {}
}

process.on('exit', () => {
  for (const file of held) {
    try {
      unlinkSync(file);
    } catch {}
  }
});

/** Whether something can bind the port on 127.0.0.1 right now. */
async function bindable(port: number, kind: 'tcp' | 'udp'): Promise<boolean> {
  const probe = kind === 'tcp' ? createServer() : createSocket('udp4');
  const failed = once(probe, 'error').then(() => false);
  const bound = once(probe, 'listening').then(() => true);
  if (kind === 'tcp') (probe as ReturnType<typeof createServer>).listen(port, '127.0.0.1');
  else (probe as ReturnType<typeof createSocket>).bind(port, '127.0.0.1');
  const ok = await Promise.race([failed, bound]);
  if (ok) await new Promise<void>((resolve) => probe.close(() => resolve()));
  return ok;
}

/**
 * A port on 127.0.0.1 that nothing was bound to a moment ago, that no other test process holds, and
 * that this process was never given before.
 */
export async function claimPort(kind: 'tcp' | 'udp'): Promise<number> {
  mkdirSync(LOCKS, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (!claim(port)) continue;
    if (await bindable(port, kind)) return port;
    release(port);
  }
  throw new Error(`no free ${kind} port between ${LOWEST} and ${HIGHEST} in 200 attempts`);
}
