// Many Muon clients in one process, for the soak suite: hundreds of `muon client` processes would
// not fit on a small machine, so a fleet runs that many TunnelClients (the code `muon client`
// runs) side by side, each with its own license, TLS with the pinned fingerprint (or the plain
// tunnel port, for comparison).
// IPC: { type: 'start', … } starts the clients a wave at a time and answers 'online' per client,
// then 'ready'; { type: 'stats' } answers the warnings and session losses counted since 'ready';
// { type: 'close' } closes every client and answers 'closed'.

import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import type { MuonError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { Message } from './child.ts';

export interface FleetStart {
  type: 'start';
  server: { host: string; port: number };
  /** The server's certificate fingerprint to pin; false: the plain tunnel port, no TLS. */
  fingerprint: string | false;
  /** Each client's index in the whole run (for reports) and license key. */
  clients: { index: number; key: string }[];
  minIdle: number;
  /** Clients started at once; the next wave starts when these are online. */
  wave: number;
}

export type FleetCommand = FleetStart | { type: 'stats' } | { type: 'close' };

/** Warnings (or worse) counted by "level message (code)". */
export type Counts = Record<string, number>;

export type FleetEvent =
  | { type: 'online'; index: number }
  | { type: 'ready'; startup: Counts }
  | { type: 'stats'; load: Counts }
  | { type: 'closed' };

const clients: TunnelClient[] = [];
/** Counted from the start until 'ready', then from 'ready' on. */
const startup: Counts = {};
const load: Counts = {};
let counts = startup;

function count(what: string): void {
  counts[what] = (counts[what] ?? 0) + 1;
}

// Every client logs through this: warnings and errors are counted, nothing is printed.
const logger = createLogger('warn', {
  write(line: string) {
    const entry = JSON.parse(line) as { level: number; msg?: string; code?: string; err?: string };
    // Numbers (ports, counts) replaced, so that the same failure is counted under one key.
    const err = entry.err ? `: ${entry.err.replace(/\d+/g, 'N').slice(0, 100)}` : '';
    count(
      `${entry.level >= 50 ? 'error' : 'warn'} ${entry.msg}${entry.code ? ` (${entry.code})` : ''}${err}`,
    );
  },
});

async function start(o: FleetStart): Promise<void> {
  for (let i = 0; i < o.clients.length; i += o.wave) {
    await Promise.all(o.clients.slice(i, i + o.wave).map((spec) => startOne(o, spec)));
  }
  counts = load;
  send({ type: 'ready', startup });
}

function startOne(o: FleetStart, spec: { index: number; key: string }): Promise<void> {
  const client = new TunnelClient({
    ...CLIENT_DEFAULTS,
    server: o.server,
    tls: o.fingerprint === false ? false : { fingerprint: o.fingerprint },
    licenseKey: spec.key,
    logger: logger.child({ client: spec.index }),
    minIdleChannels: o.minIdle,
  });
  clients.push(client);
  let online = 0;
  client.on('offline', (reason: MuonError) => count(`offline (${reason.code})`));
  client.on('fatal', (reason: MuonError) => count(`fatal (${reason.code})`));
  return new Promise((resolve) => {
    client.on('online', () => {
      if (++online > 1) count('online again after a disconnection');
      send({ type: 'online', index: spec.index });
      resolve();
    });
    client.once('fatal', () => resolve());
    client.start();
  });
}

async function close(): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
  // The runner disconnects (or kills) us once it has this.
  send({ type: 'closed' });
}

process.on('message', (message: Message) => {
  const command = message as FleetCommand;
  if (command.type === 'start') void start(command);
  else if (command.type === 'stats') send({ type: 'stats', load });
  else if (command.type === 'close') void close();
});
// The runner went away: so do we (without waiting for sockets to close).
process.on('disconnect', () => process.exit(0));

function send(event: FleetEvent): void {
  process.send?.(event);
}
