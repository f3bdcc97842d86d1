// The service the benchmark reaches, directly or through Muon: four TCP listeners on 127.0.0.1.
//   echo   — writes back what it reads (request/response, new connections, idle connections)
//   sink   — discards what it reads and acknowledges every MiB with one byte, so the load
//            generator counts bytes that really arrived (not bytes buffered on the way)
//   source — writes as fast as the connection takes it
//   banner — sends one byte on accept (a server-speaks-first protocol), then discards input
// Prints one JSON line {"event":"ready","ports":{...}}; exits on SIGTERM or when stdin ends.

import { fstatSync } from 'node:fs';
import net from 'node:net';

export const ACK_UNIT = 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x5a);
const ACKS = Buffer.alloc(1024, 0x61);
const BANNER = Buffer.from('!');

function guard(socket: net.Socket): void {
  socket.on('error', () => socket.destroy());
}

function echo(socket: net.Socket): void {
  guard(socket);
  socket.pipe(socket);
}

function sink(socket: net.Socket): void {
  guard(socket);
  let received = 0;
  let acked = 0;
  socket.on('data', (data: Buffer) => {
    received += data.length;
    let units = Math.floor(received / ACK_UNIT) - acked;
    acked += units;
    while (units > 0) {
      const n = Math.min(units, ACKS.length);
      socket.write(ACKS.subarray(0, n));
      units -= n;
    }
  });
  socket.on('end', () => socket.end());
}

function source(socket: net.Socket): void {
  guard(socket);
  let open = true;
  const pump = (): void => {
    while (open && socket.write(CHUNK)) {
      // keep writing until the socket asks us to wait for 'drain'
    }
  };
  socket.on('drain', pump);
  socket.on('close', () => {
    open = false;
  });
  socket.on('end', () => socket.end());
  socket.resume();
  pump();
}

function banner(socket: net.Socket): void {
  guard(socket);
  socket.write(BANNER);
  socket.on('end', () => socket.end());
  socket.resume();
}

function listen(handler: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve(server));
  });
}

function portOf(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no port');
  return address.port;
}

async function main(): Promise<void> {
  const servers = {
    echo: await listen(echo),
    sink: await listen(sink),
    source: await listen(source),
    banner: await listen(banner),
  };
  const ports = {
    echo: portOf(servers.echo),
    sink: portOf(servers.sink),
    source: portOf(servers.source),
    banner: portOf(servers.banner),
  };
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, ports })}\n`);
  const quit = (): void => process.exit(0);
  process.once('SIGTERM', quit);
  process.once('SIGINT', quit);
  // Exit with the parent: stdin is a pipe from run.ts (when run by hand, rely on signals). Same
  // as parent-watch.ts, inlined: a local import would add ~3 MB to the baseline RSS.
  if (fstatSync(0).isFIFO()) {
    process.stdin.once('end', quit);
    process.stdin.once('error', quit);
    process.stdin.resume();
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`target: ${String(error)}\n`);
    process.exit(1);
  });
}
