// The load generator's `hold` workload (bench/load.ts hold): opens many connections, checks
// each with a 1-byte round trip, holds them idle, and checks them all again on SIGUSR2. Used for
// the memory figures (--visitors) and the hold test (--hold).

import net from 'node:net';
import type { LoadOptions } from './load.ts';
import { onParentGone } from './parent-watch.ts';

const READ_BUFFER = Buffer.alloc(64 * 1024);
const PING = Buffer.from('h');

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const now = (): bigint => process.hrtime.bigint();

/** One held connection: a 1-byte round trip can be awaited on it at any time. */
interface Held {
  socket: net.Socket;
  closed: boolean;
  /** Settles the round trip in flight, if any. */
  settle: ((ok: boolean) => void) | undefined;
}

/** Sends one byte and waits for the echo (false on close, error or 10 s without a reply). */
function roundTrip(held: Held): Promise<boolean> {
  if (held.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), 10_000);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      held.settle = undefined;
      resolve(ok);
    };
    held.settle = finish;
    held.socket.write(PING);
  });
}

/** Runs `task` on every item, `width` at a time; returns how many gave true. */
async function inBatches<T>(
  items: readonly T[],
  width: number,
  task: (item: T) => Promise<boolean>,
): Promise<number> {
  let ok = 0;
  for (let i = 0; i < items.length; i += width) {
    const results = await Promise.all(items.slice(i, i + width).map(task));
    for (const r of results) if (r) ok++;
  }
  return ok;
}

/**
 * Opens `count` connections (50 at a time), checks each with a 1-byte round trip, then holds
 * them idle. On SIGUSR2 it checks every held connection again with a round trip and prints
 * {"event":"checked",...}: connections the tunnel dropped while idle show up there.
 */
export async function hold(o: LoadOptions): Promise<void> {
  const all: Held[] = [];
  const openOne = (): Promise<boolean> =>
    new Promise((resolve) => {
      let settled = false;
      const opened = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const socket = net.connect({
        host: o.host,
        port: o.port,
        onread: {
          buffer: READ_BUFFER,
          callback: (n: number): boolean => {
            if (n > 0) held.settle?.(true);
            return true;
          },
        },
      });
      const held: Held = { socket, closed: false, settle: undefined };
      all.push(held);
      // A connect that never completes (full backlog) counts as an error after 10 s.
      const timer = setTimeout(() => {
        socket.destroy();
        opened(false);
      }, 10_000);
      socket.on('error', () => {});
      socket.on('close', () => {
        held.closed = true;
        held.settle?.(false);
        opened(false);
      });
      socket.on('connect', () => {
        roundTrip(held).then(opened, () => opened(false));
      });
    });
  const t0 = now();
  const opened = await inBatches(
    Array.from({ length: o.count }, (_, i) => i),
    50,
    () => openOne(),
  );
  emit({ event: 'ready', connections: opened, errors: o.count - opened, seconds: Number(now() - t0) / 1e9 });
  const alive = all.filter((h) => !h.closed);
  process.on('SIGUSR2', () => {
    const t1 = now();
    const closed = alive.filter((h) => h.closed).length;
    inBatches(alive, 500, roundTrip).then(
      (ok) =>
        emit({
          event: 'checked',
          checked: alive.length,
          ok,
          failed: alive.length - ok,
          closed,
          seconds: Number(now() - t1) / 1e9,
        }),
      (error: unknown) => emit({ event: 'error', message: String(error) }),
    );
  });
  await new Promise<void>((resolve) => {
    const release = (): void => resolve();
    onParentGone(release);
    process.once('SIGTERM', release);
    process.once('SIGINT', release);
    setTimeout(release, o.durationMs);
  });
  for (const h of all) h.socket.destroy();
}
