// Pebble, Let's Encrypt's small ACME test server (Debian package `pebble`), on loopback for the
// ACME tests: a generated config on free ports, its own HTTPS certificate from the test CA (so
// `acme.caCertificate` is exercised), and pebble-challtestsrv as its DNS server answering every
// name with 127.0.0.1, so HTTP-01 validation connects to the port the test names (the server's
// shared HTTP port). Each instance is stopped and its files removed when the test ends.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { makeCertificate } from './certs.ts';
import { freePort } from './net.ts';

const SCRIPT = join(import.meta.dirname, '../../scripts/pebble.sh');

/** Every child still running, killed if the test process exits without cleaning up. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return executable(`/usr/bin/${name}`) ? `/usr/bin/${name}` : undefined;
}

/**
 * Where pebble is: MUON_TEST_PEBBLE, else on PATH, else installed now by scripts/pebble.sh (apt).
 * `skip` is set only when it is missing and apt-get is not there to install it; an install that
 * fails throws, so the tests fail rather than pass without having run.
 */
export function findPebble(): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const given = process.env.MUON_TEST_PEBBLE;
  if (given) {
    if (!executable(given)) throw new Error(`MUON_TEST_PEBBLE=${given} is not an executable`);
    return { path: given };
  }
  const found = onPath('pebble');
  if (found) return { path: found };
  if (!onPath('apt-get')) {
    return {
      skip: 'pebble (the Debian package) is not installed and apt-get is not here to install it (scripts/pebble.sh)',
    };
  }
  const path = execFileSync('sh', [SCRIPT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  if (!executable(path)) throw new Error(`scripts/pebble.sh printed ${path}, which is not an executable`);
  return { path };
}

/** A PEM file of the test CA, which signs pebble's HTTPS certificate (for `acme.caCertificate`). */
export async function testCaFile(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-test-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ca.pem');
  await writeFile(file, (await makeCertificate(['localhost'])).ca);
  return file;
}

export interface Pebble {
  /** The ACME directory, https://127.0.0.1:<port>/dir. */
  directoryUrl: string;
  port: number;
  /** The PEM of the CA that signed pebble's HTTPS certificate (the test CA: see testCaFile). */
  tlsCa: string;
  /** Pebble's issuing root for this run (from its management endpoint /roots/0). */
  root(): Promise<string>;
  /** Everything pebble printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where HTTP-01 validation connects (on the name's address, which is 127.0.0.1). */
  httpPort: number;
  /** The directory's port; a free one by default. */
  port?: number;
  /** Every challenge valid without fetching it (PEBBLE_VA_ALWAYS_VALID). */
  alwaysValid?: boolean;
  /** How long the certificates it issues are valid (default: pebble's five years). */
  validitySeconds?: number;
}

function spawnTracked(path: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once `read()` matches `pattern`; rejects after `ms` or when `child` exits first. */
function waitForOutput(child: ChildProcess, read: () => string, pattern: RegExp, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(read())) return;
      done();
      resolve();
    };
    const fail = () => {
      done();
      reject(new Error(`${pattern} did not appear in time; output:\n${read().slice(-2000)}`));
    };
    const timer = setTimeout(fail, ms);
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', fail);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', fail);
    check();
  });
}

export async function startPebble(t: TestContext, binary: string, options: PebbleOptions): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-pebble-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
  };
  t.after(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });

  const tls = await makeCertificate(['localhost'], { ips: ['127.0.0.1'] });
  await writeFile(join(dir, 'cert.pem'), tls.cert);
  await writeFile(join(dir, 'key.pem'), tls.key);
  const [port, management, dns, dnsManagement, tlsPort] = await Promise.all([
    options.port ?? freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: options.httpPort,
      // TLS-ALPN-01 is never chosen by Muon; a closed port keeps it from reaching anything.
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.validitySeconds !== undefined && { certificateValidityPeriod: options.validitySeconds }),
    },
  };
  await writeFile(join(dir, 'pebble.json'), JSON.stringify(config));

  let output = '';
  const collect = (child: ChildProcess) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk;
    });
  };
  const dnsServer = spawnTracked(
    join(dirname(binary), 'pebble-challtestsrv'),
    [
      ...['-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
      ...['-dns01', `127.0.0.1:${dns}`, '-management', `127.0.0.1:${dnsManagement}`],
      ...['-http01', '', '-https01', '', '-tlsalpn01', ''],
    ],
    {},
  );
  children.push(dnsServer);
  collect(dnsServer);
  await waitForOutput(dnsServer, () => output, /Starting management server/);

  const pebble = spawnTracked(
    binary,
    ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dns}`],
    {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      ...(options.alwaysValid && { PEBBLE_VA_ALWAYS_VALID: '1' }),
    },
  );
  children.push(pebble);
  collect(pebble);
  await waitForOutput(pebble, () => output, new RegExp(`Listening on: 127\\.0\\.0\\.1:${port}`));

  return {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    port,
    tlsCa: tls.ca,
    root: () => fetchText(`https://127.0.0.1:${management}/roots/0`, tls.ca),
    output: () => output,
    stop,
  };
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}
