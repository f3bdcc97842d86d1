// Load generator: one process, one workload, against a host:port given on the command line.
//   node bench/load.ts <upload|download|rr|connect|ttfb|hold> --port=N [options]
// Prints JSON lines on stdout: {"event":"measure"} when the warm-up ends (the caller samples
// CPU then), then one {"event":"result",...}. `hold` prints {"event":"ready",...} and keeps its
// connections open until stdin ends, SIGTERM or --duration (on SIGUSR2 it checks them all
// again). Buffers are allocated once and reused; reads go into a static buffer (`onread`), so
// the hot paths allocate nothing per request beyond the socket itself and the timestamp.

import net from 'node:net';
import { parseArgs } from 'node:util';
import { Histogram } from './histogram.ts';
import { hold } from './load-hold.ts';
import { onParentGone } from './parent-watch.ts';
import { ACK_UNIT } from './target.ts';

export type LoadWorkload = 'upload' | 'download' | 'rr' | 'connect' | 'ttfb' | 'hold';

export interface LoadOptions {
  host: string;
  port: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  size: number;
  count: number;
}

const READ_BUFFER = Buffer.alloc(256 * 1024);
const WRITE_CHUNK = Buffer.alloc(256 * 1024, 0x41);

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const now = (): bigint => process.hrtime.bigint();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function latencySummary(h: Histogram): Record<string, number> {
  return {
    samples: h.count,
    p50Ms: h.quantileNs(0.5) / 1e6,
    p99Ms: h.quantileNs(0.99) / 1e6,
    p999Ms: h.quantileNs(0.999) / 1e6,
    maxMs: h.maxNs / 1e6,
  };
}

/**
 * Waits out the warm-up, calls `begin`, then measures for the duration; `sample` returns a
 * running counter and the result is its increase over the window.
 */
async function timedWindow(
  o: LoadOptions,
  sample: () => number,
  begin?: () => void,
): Promise<{ amount: number; seconds: number }> {
  await sleep(o.warmupMs);
  begin?.();
  const a0 = sample();
  const t0 = now();
  emit({ event: 'measure' });
  await sleep(o.durationMs);
  const amount = sample() - a0;
  const seconds = Number(now() - t0) / 1e9;
  return { amount, seconds };
}

/** Bulk: N streams; upload counts bytes acknowledged by the sink, download counts bytes received. */
async function bulk(o: LoadOptions, direction: 'upload' | 'download'): Promise<Record<string, unknown>> {
  let counted = 0;
  let errors = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < o.connections; i++) {
    const socket = net.connect({
      host: o.host,
      port: o.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number): boolean => {
          counted += direction === 'upload' ? n * ACK_UNIT : n;
          return true;
        },
      },
    });
    socket.on('error', () => {
      errors++;
    });
    if (direction === 'upload') {
      let open = true;
      const pump = (): void => {
        while (open && socket.write(WRITE_CHUNK)) {
          // write until the socket asks for 'drain'
        }
      };
      socket.on('connect', pump);
      socket.on('drain', pump);
      socket.on('close', () => {
        open = false;
      });
    }
    sockets.push(socket);
  }
  const { amount, seconds } = await timedWindow(o, () => counted);
  for (const s of sockets) s.destroy();
  return { bytes: amount, seconds, gbps: (amount * 8) / seconds / 1e9, errors };
}

/** Keep-alive request/response: each connection sends `size` bytes and waits for `size` back. */
async function requestResponse(o: LoadOptions): Promise<Record<string, unknown>> {
  const request = WRITE_CHUNK.subarray(0, o.size);
  const histogram = new Histogram();
  let measuring = false;
  let completed = 0;
  let errors = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < o.connections; i++) {
    let got = 0;
    let sentAt = 0n;
    const socket = net.connect({
      host: o.host,
      port: o.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number): boolean => {
          got += n;
          if (got >= o.size) {
            got -= o.size;
            const t = now();
            if (measuring) {
              histogram.record(Number(t - sentAt));
              completed++;
            }
            sentAt = t;
            socket.write(request);
          }
          return true;
        },
      },
    });
    socket.on('error', () => {
      errors++;
    });
    socket.on('connect', () => {
      sentAt = now();
      socket.write(request);
    });
    sockets.push(socket);
  }
  const { amount, seconds } = await timedWindow(
    o,
    () => completed,
    () => {
      measuring = true;
    },
  );
  measuring = false;
  for (const s of sockets) s.destroy();
  return { requests: amount, seconds, perSecond: amount / seconds, errors, ...latencySummary(histogram) };
}

/** One connection per request: connect, send `size` bytes, read `size` back, close. */
async function connectPerRequest(o: LoadOptions): Promise<Record<string, unknown>> {
  const request = WRITE_CHUNK.subarray(0, o.size);
  const histogram = new Histogram();
  let running = true;
  let measuring = false;
  let completed = 0;
  let errors = 0;
  const open = new Set<net.Socket>();

  const loop = (): void => {
    if (!running) return;
    const start = now();
    let got = 0;
    let done = false;
    const socket = net.connect({
      host: o.host,
      port: o.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number): boolean => {
          got += n;
          if (got >= o.size && !done) {
            done = true;
            if (measuring) {
              histogram.record(Number(now() - start));
              completed++;
            }
            socket.destroy();
          }
          return true;
        },
      },
    });
    open.add(socket);
    socket.on('connect', () => socket.write(request));
    socket.on('error', () => {});
    socket.on('close', () => {
      open.delete(socket);
      if (!done && running) errors++;
      // A failing endpoint must not turn this loop into a busy spin.
      if (done) setImmediate(loop);
      else setTimeout(loop, 10);
    });
  };
  for (let i = 0; i < o.connections; i++) loop();
  const { amount, seconds } = await timedWindow(
    o,
    () => completed,
    () => {
      measuring = true;
    },
  );
  running = false;
  measuring = false;
  for (const s of open) s.destroy();
  return { connections: amount, seconds, perSecond: amount / seconds, errors, ...latencySummary(histogram) };
}

/** Time to first byte: `count` sequential connections to a server that speaks first. */
async function timeToFirstByte(o: LoadOptions): Promise<Record<string, unknown>> {
  const histogram = new Histogram();
  let errors = 0;
  const one = (record: boolean): Promise<void> =>
    new Promise((resolve) => {
      const start = now();
      let settled = false;
      const finish = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) errors++;
        else if (record) histogram.record(Number(now() - start));
        socket.destroy();
        resolve();
      };
      const socket = net.connect({
        host: o.host,
        port: o.port,
        noDelay: true,
        onread: {
          buffer: READ_BUFFER,
          callback: (n: number): boolean => {
            if (n > 0) finish(true);
            return true;
          },
        },
      });
      const timer = setTimeout(() => finish(false), 5000);
      socket.on('error', () => finish(false));
      socket.on('close', () => finish(false));
    });
  // Warm-up: a few connections that are not recorded. The whole run is bounded by durationMs.
  const deadline = Date.now() + o.durationMs;
  for (let i = 0; i < Math.min(20, o.count) && Date.now() < deadline; i++) await one(false);
  emit({ event: 'measure' });
  const t0 = now();
  for (let i = 0; i < o.count && Date.now() < deadline; i++) await one(true);
  const seconds = Number(now() - t0) / 1e9;
  return { connections: histogram.count, seconds, errors, ...latencySummary(histogram) };
}

function parseOptions(argv: readonly string[]): { workload: LoadWorkload; options: LoadOptions } {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      warmup: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '4000' },
      connections: { type: 'string', default: '1' },
      size: { type: 'string', default: '64' },
      count: { type: 'string', default: '500' },
    },
  });
  const workload = positionals[0];
  const workloads: readonly string[] = ['upload', 'download', 'rr', 'connect', 'ttfb', 'hold'];
  if (workload === undefined || !workloads.includes(workload)) {
    throw new Error(`usage: load.ts <${workloads.join('|')}> --port=N`);
  }
  const int = (name: string, text: string | undefined, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer ${min}..${max}`);
    return n;
  };
  return {
    workload: workload as LoadWorkload,
    options: {
      host: values.host,
      port: int('port', values.port, 1, 65535),
      warmupMs: int('warmup', values.warmup, 0, 60_000),
      durationMs: int('duration', values.duration, 100, 600_000),
      connections: int('connections', values.connections, 1, 10_000),
      size: int('size', values.size, 1, WRITE_CHUNK.length),
      count: int('count', values.count, 1, 100_000),
    },
  };
}

async function main(): Promise<void> {
  const { workload, options } = parseOptions(process.argv.slice(2));
  // Hard stop, so a stuck endpoint can never keep this process alive.
  setTimeout(
    () => {
      emit({ event: 'error', message: 'load generator deadline exceeded' });
      process.exit(2);
    },
    options.warmupMs + options.durationMs + 30_000,
  ).unref();
  // `hold` treats the end of stdin as its release signal; the others stop at once.
  if (workload !== 'hold') onParentGone(() => process.exit(3));
  let result: Record<string, unknown> = {};
  switch (workload) {
    case 'upload':
    case 'download':
      result = await bulk(options, workload);
      break;
    case 'rr':
      result = await requestResponse(options);
      break;
    case 'connect':
      result = await connectPerRequest(options);
      break;
    case 'ttfb':
      result = await timeToFirstByte(options);
      break;
    case 'hold':
      await hold(options);
      process.exit(0);
  }
  emit({ event: 'result', workload, ...result });
  process.exit(0);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    emit({ event: 'error', message: String(error) });
    process.exit(1);
  });
}
