// What the kernel relay (src/net/kernel-relay.ts) would give the tunnel's data path, measured
// without the tunnel: a single stream through two relay processes in a row (as a visitor's bytes
// cross the server and then the client), each relay either Node's stream pipe() or the kernel
// relay, against the same stream direct. No framing and no proxy protocol: only the relays.
//   node bench/relay-hops.ts [--rounds=2] [--seconds=4]
// A relay process: node bench/relay-hops.ts --hop=js|kernel --to=PORT (prints {"event":"ready","port":N}).

import net from 'node:net';
import { parseArgs } from 'node:util';
import { KernelRelay, kernelRelayAvailable } from '../src/net/kernel-relay.ts';
import { type Child, killAllChildren, parseJsonLine, spawnNode } from './child.ts';
import { readCpuSeconds, readMachineCpu } from './proc.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const LOAD = new URL('./load.ts', import.meta.url).pathname;
const TARGET = new URL('./target.ts', import.meta.url).pathname;

type Hop = 'js' | 'kernel';

function runHop(kind: Hop, to: number): void {
  const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (visitor) => {
    const next = net.connect({ host: '127.0.0.1', port: to, noDelay: true, allowHalfOpen: true });
    next.pause();
    const drop = (): void => {
      visitor.destroy();
      next.destroy();
    };
    visitor.on('error', drop);
    next.on('error', drop);
    next.once('connect', () => {
      if (kind === 'kernel') {
        new KernelRelay(visitor, next, () => {});
        return;
      }
      visitor.pipe(next);
      next.pipe(visitor);
      visitor.resume();
      next.resume();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ event: 'ready', port: address.port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function ready(child: Child, what: string): Promise<Record<string, unknown>> {
  return child.waitFor(what, 10_000, (line) => {
    const json = parseJsonLine(line);
    return json?.event === 'ready' ? json : undefined;
  });
}

/** Two relays in a row in front of `port`; returns the entry port and both processes. */
async function chain(kind: Hop, port: number): Promise<{ entry: number; hops: Child[] }> {
  const second = spawnNode([SELF, `--hop=${kind}`, `--to=${port}`], ROOT);
  const secondPort = Number((await ready(second, 'second relay')).port);
  const first = spawnNode([SELF, `--hop=${kind}`, `--to=${secondPort}`], ROOT);
  const entry = Number((await ready(first, 'first relay')).port);
  return { entry, hops: [first, second] };
}

async function measure(
  direction: 'upload' | 'download',
  port: number,
  seconds: number,
  pids: number[],
): Promise<{ gbps: number; cpuPerGb: number | undefined }> {
  const load = spawnNode(
    [LOAD, direction, `--port=${port}`, '--connections=1', '--warmup=1000', `--duration=${seconds * 1000}`],
    ROOT,
  );
  const cpu = (): number => pids.reduce((sum, pid) => sum + (readCpuSeconds(pid) ?? 0), 0);
  let before = 0;
  const result = await load.waitFor(`load ${direction}`, (seconds + 10) * 1000, (line) => {
    const json = parseJsonLine(line);
    if (json?.event === 'measure') before = cpu();
    return json?.event === 'result' ? json : undefined;
  });
  const used = cpu() - before;
  await load.stop();
  const bytes = Number(result.bytes);
  return {
    gbps: Number(result.gbps),
    cpuPerGb: pids.length > 0 && bytes > 0 ? used / (bytes / 1e9) : undefined,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hop: { type: 'string' },
      to: { type: 'string' },
      rounds: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '4' },
    },
  });
  if (values.hop !== undefined) {
    runHop(values.hop === 'kernel' ? 'kernel' : 'js', Number(values.to));
    return;
  }
  if (!kernelRelayAvailable()) {
    console.error('the kernel relay is not built (scripts/build-native.sh needs a C compiler)');
    process.exit(1);
  }
  const seconds = Number(values.seconds);
  const steal0 = readMachineCpu();
  const target = spawnNode([TARGET], ROOT);
  const ports = (await ready(target, 'target')).ports as { sink: number; source: number };
  console.log('round  relays      upload Gbit/s (ratio)  CPU s/GB   download Gbit/s (ratio)  CPU s/GB');
  for (let round = 1; round <= Number(values.rounds); round++) {
    const direct = {
      upload: await measure('upload', ports.sink, seconds, []),
      download: await measure('download', ports.source, seconds, []),
    };
    console.log(
      `${round}      direct      ${direct.upload.gbps.toFixed(2).padStart(6)}                 -          ${direct.download.gbps.toFixed(2).padStart(6)}`,
    );
    for (const kind of ['js', 'kernel'] as const) {
      const up = await chain(kind, ports.sink);
      const down = await chain(kind, ports.source);
      const u = await measure(
        'upload',
        up.entry,
        seconds,
        up.hops.map((h) => h.pid),
      );
      const d = await measure(
        'download',
        down.entry,
        seconds,
        down.hops.map((h) => h.pid),
      );
      for (const hop of [...up.hops, ...down.hops]) await hop.stop();
      const row = (m: { gbps: number; cpuPerGb: number | undefined }, base: number): string =>
        `${m.gbps.toFixed(2).padStart(6)} (${(m.gbps / base).toFixed(2)})          ${(m.cpuPerGb ?? 0).toFixed(2).padStart(5)}`;
      console.log(
        `${round}      ${kind === 'js' ? 'pipe() x2 ' : 'kernel x2 '}  ${row(u, direct.upload.gbps)}      ${row(d, direct.download.gbps)}`,
      );
    }
  }
  await target.stop();
  const steal1 = readMachineCpu();
  if (steal0 && steal1) {
    const share = (steal1.steal - steal0.steal) / Math.max(1, steal1.total - steal0.total);
    console.log(`CPU stolen by the hypervisor: ${(share * 100).toFixed(1)} %`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  killAllChildren();
  process.exit(1);
});
