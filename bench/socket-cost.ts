// What one idle connection costs a bare Node server, plain TCP against TLS, with no Muon code in
// the way: the floor under Muon's "memory per idle visitor" figures (docs/benchmarks.md).
//
//   node bench/socket-cost.ts [--connections=1000]
//
// The server side runs in this process; the connections come from a child process, so only the
// server's resident size moves. Each connection makes one 1-byte round trip, then stays idle.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { makeCertificate } from '../test/support/certs.ts';

type Kind = 'tcp' | 'tls';

function rssKiB(): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? Number.NaN);
}

async function connectAll(kind: Kind, port: number, count: number): Promise<void> {
  const held: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket =
      kind === 'tls'
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
        : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(kind === 'tls' ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    socket.write('x');
    await new Promise((resolve) => socket.once('data', resolve));
    held.push(socket);
  }
}

async function measure(kind: Kind, count: number): Promise<number> {
  const accepted: net.Socket[] = [];
  const echo = (socket: net.Socket): void => {
    accepted.push(socket);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  };
  const server =
    kind === 'tls' ? tls.createServer(await makeCertificate(['localhost']), echo) : net.createServer(echo);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as net.AddressInfo;
  const child = fork(new URL(import.meta.url), ['--child', kind, String(port), String(count)]);
  await new Promise((resolve) => child.once('message', resolve)); // the child is ready
  const before = rssKiB();
  child.send('go');
  await new Promise((resolve) => child.once('message', resolve)); // all connected and idle
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssKiB();
  child.kill();
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  return ((after - before) * 1024) / count / 1000;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { child: { type: 'boolean', default: false }, connections: { type: 'string', default: '1000' } },
});

if (values.child) {
  const [kind, port, count] = positionals;
  process.send?.('ready');
  process.once('message', async () => {
    await connectAll(kind as Kind, Number(port), Number(count));
    process.send?.('connected');
  });
} else {
  const count = Number(values.connections);
  for (const kind of ['tcp', 'tls'] as const) {
    const kb = await measure(kind, count);
    process.stdout.write(`${kind}: ${kb.toFixed(1)} KB per idle connection (server side, ${count} held)\n`);
  }
}
