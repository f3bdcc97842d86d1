// A tiny HTTP/1.1 server for wrk (keep-alive requests): answers every request with 200 and a
// 2-byte body. Its own process, so the TCP target's baseline RSS does not carry node:http.
// Prints one JSON line {"event":"ready","port":N}; exits on SIGTERM or when stdin ends.

import http from 'node:http';
import { onParentGone } from './parent-watch.ts';

const BODY = Buffer.from('ok');

async function main(): Promise<void> {
  const server = http.createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    response.end(BODY);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no port');
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, port: address.port })}\n`);
  const quit = (): void => process.exit(0);
  process.once('SIGTERM', quit);
  process.once('SIGINT', quit);
  onParentGone(quit);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`http-target: ${String(error)}\n`);
    process.exit(1);
  });
}
