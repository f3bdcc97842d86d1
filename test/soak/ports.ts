// Public ports for hundreds of mappings. Ports from listen(0) come out of the kernel's ephemeral
// range, where they may repeat the server's own ports (picked the same way) or be taken as the
// source port of one of the thousands of connections a burst opens before the server binds
// them. So mapping ports come from below the ephemeral range, checked free one by one.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

async function ephemeralLow(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768');
  return Number(text.trim().split(/\s+/)[0]) || 32768;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct free TCP ports on 127.0.0.1 below the ephemeral range, from a random start. */
export async function mappingPorts(count: number): Promise<number[]> {
  const high = (await ephemeralLow()) - 1;
  const low = 10_000;
  if (high - low < count * 2)
    throw new Error(`not enough ports below the ephemeral range for ${count} mappings`);
  const ports: number[] = [];
  let port = low + Math.floor(Math.random() * (high - low - count * 2));
  while (ports.length < count) {
    if (port > high) throw new Error(`found only ${ports.length} free ports for ${count} mappings`);
    if (await isFree(port)) ports.push(port);
    port++;
  }
  return ports;
}
