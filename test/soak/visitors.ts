// One burst of the soak suite: thousands of visitors connect at once, spread evenly over the
// clients' public ports, each checks one echo; once every visitor is open they all exchange
// messages for a fixed time (counted per client: the fairness figures), then all half-close and
// wait for the tunnel to close them. Every echo must be the visitor's own bytes.

import { connect, type Socket } from 'node:net';
import type { Counts } from './client-fleet.ts';
import { Histogram } from './histogram.ts';

/** What one client's visitors got over the whole run. */
export class ClientTally {
  /** Visitors that opened, exchanged and closed cleanly. */
  served = 0;
  failed = 0;
  /** Round trips completed inside hold windows. */
  roundTrips = 0;
  /** From connect() to the first echo. */
  readonly setup = new Histogram();
  /** One message out and its echo back, during holds. */
  readonly roundTrip = new Histogram();
}

export interface BurstPlan {
  /** Numbers the burst in payloads, so a message that reaches the wrong visitor is seen. */
  burst: number;
  /** The public port of each client; visitor i goes to client i % ports.length. */
  ports: readonly number[];
  visitors: number;
  holdMs: number;
  messageBytes: number;
  /** The whole burst is bounded by this; visitors still busy then fail with `timeout:<phase>`. */
  timeoutMs: number;
  tallies: readonly ClientTally[];
  errors: Counts;
  /** Runs once every visitor is open (or has failed), before the hold; `open` visitors are. */
  whileOpen: (open: number) => Promise<void>;
}

export interface BurstResult {
  open: number;
  failed: number;
  /** From the first connect() to the last visitor's first echo. */
  openMs: number;
  /** From the end of the hold to the last visitor closed. */
  closeMs: number;
  roundTrips: number;
  /** Setup times (connect() to the first echo) of this burst's visitors. */
  setup: Histogram;
}

class VisitError extends Error {
  readonly kind: string;

  constructor(kind: string) {
    super(kind);
    this.kind = kind;
  }
}

/** A visitor socket that waits for exact echoes. */
class Peer {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #length = 0;
  #connected = false;
  #ended = false;
  #failure: VisitError | undefined;
  #wake: (() => void) | undefined;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    this.socket.on('connect', () => {
      this.#connected = true;
      this.#poke();
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#poke();
    });
    this.socket.on('end', () => {
      this.#ended = true;
      this.#poke();
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#fail(`${this.#connected ? 'reset' : 'connect'}:${error.code ?? error.message}`);
    });
    this.socket.on('close', () => this.#fail('closed-early'));
  }

  connected(): Promise<void> {
    return this.#until(() => this.#connected);
  }

  /** Writes `message` and waits for exactly its bytes back. */
  async exchange(message: Buffer): Promise<void> {
    this.socket.write(message);
    await this.#until(() => this.#length >= message.length);
    const echoed = this.#take();
    if (!echoed.equals(message)) throw new VisitError('mismatch');
  }

  /** Half-closes and waits for the tunnel to end the connection, with nothing more to read. */
  async close(): Promise<void> {
    this.socket.end();
    await this.#until(() => this.#ended, true);
    if (this.#length > 0) throw new VisitError('mismatch');
    this.socket.destroy();
  }

  /** Ends any wait with `timeout`. */
  abort(): void {
    this.#fail('timeout');
  }

  #take(): Buffer {
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#length = 0;
    return all;
  }

  #fail(kind: string): void {
    this.#failure ??= new VisitError(kind);
    this.#poke();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #until(ready: () => boolean, endIsReady = false): Promise<void> {
    while (!ready()) {
      // A timeout wins over what it caused; the peer's end only matters if it came too soon.
      if (this.#failure?.kind === 'timeout') throw this.#failure;
      if (this.#ended && !endIsReady) throw new VisitError('closed-early');
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}

/** Counts visitors until all are open or failed, then releases them into the hold. */
class Gate {
  readonly settled: Promise<number>;
  readonly hold: Promise<number>;
  #pending: number;
  #open = 0;
  #settle: ((open: number) => void) | undefined;
  #release: ((holdEnd: number) => void) | undefined;

  constructor(visitors: number) {
    this.#pending = visitors;
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.hold = new Promise((resolve) => {
      this.#release = resolve;
    });
    if (visitors === 0) this.#settle?.(0);
  }

  visitorSettled(open: boolean): void {
    if (open) this.#open++;
    if (--this.#pending === 0) this.#settle?.(this.#open);
  }

  release(holdEnd: number): void {
    this.#release?.(holdEnd);
  }
}

function count(counts: Counts, what: string): void {
  counts[what] = (counts[what] ?? 0) + 1;
}

function payload(plan: BurstPlan, visitor: number, round: number): Buffer {
  return Buffer.alloc(plan.messageBytes, `b${plan.burst}v${visitor}r${round};`);
}

/** Resolves with the visitor's round trips in the hold, or undefined if it failed. */
async function visit(
  plan: BurstPlan,
  visitor: number,
  gate: Gate,
  peers: Set<Peer>,
  setup: Histogram,
): Promise<number | undefined> {
  const client = visitor % plan.ports.length;
  const tally = plan.tallies[client] as ClientTally;
  const peer = new Peer(plan.ports[client] as number);
  peers.add(peer);
  let phase: 'open' | 'exchange' | 'close' = 'open';
  let roundTrips = 0;
  try {
    const started = performance.now();
    await peer.connected();
    await peer.exchange(payload(plan, visitor, 0));
    const setupMs = performance.now() - started;
    tally.setup.add(setupMs);
    setup.add(setupMs);
    gate.visitorSettled(true);
    const holdEnd = await gate.hold;
    phase = 'exchange';
    for (let round = 1; ; round++) {
      const sent = performance.now();
      if (sent >= holdEnd) break;
      await peer.exchange(payload(plan, visitor, round));
      const back = performance.now();
      if (back <= holdEnd) {
        roundTrips++;
        tally.roundTrip.add(back - sent);
      }
    }
    phase = 'close';
    await peer.close();
    tally.served++;
    tally.roundTrips += roundTrips;
    return roundTrips;
  } catch (error) {
    if (phase === 'open') gate.visitorSettled(false);
    const kind = error instanceof VisitError ? error.kind : `exception: ${(error as Error).message}`;
    const key = kind === 'timeout' ? `visitor timeout (${phase})` : `visitor ${kind} (${phase})`;
    count(plan.errors, key);
    tally.failed++;
    peer.socket.destroy();
    return undefined;
  } finally {
    peers.delete(peer);
  }
}

export async function runBurst(plan: BurstPlan): Promise<BurstResult> {
  const peers = new Set<Peer>();
  const gate = new Gate(plan.visitors);
  const setup = new Histogram();
  const timer = setTimeout(() => {
    for (const peer of peers) peer.abort();
    gate.release(performance.now());
  }, plan.timeoutMs);
  try {
    const started = performance.now();
    const visits = Array.from({ length: plan.visitors }, (_, i) => visit(plan, i, gate, peers, setup));
    const open = await gate.settled;
    const openMs = performance.now() - started;
    try {
      await plan.whileOpen(open);
    } catch (error) {
      // The visitors wait for the hold: it must start whatever happened here.
      count(plan.errors, `while open: ${(error as Error).message}`);
    }
    const holdEnd = performance.now() + plan.holdMs;
    gate.release(holdEnd);
    const rounds = await Promise.all(visits);
    return {
      open,
      failed: rounds.filter((r) => r === undefined).length,
      openMs,
      closeMs: Math.max(0, performance.now() - holdEnd),
      roundTrips: rounds.reduce<number>((a, b) => a + (b ?? 0), 0),
      setup,
    };
  } finally {
    clearTimeout(timer);
  }
}
