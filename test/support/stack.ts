// Starts a real tunnel server and client on loopback for end-to-end tests.

import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { CLIENT_DEFAULTS, type TunnelClientOptions } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';
import type { LicenseRecord, MappingRecord } from '../../src/server/directory.ts';
import { SERVER_DEFAULTS, type TunnelServerOptions } from '../../src/server/options.ts';
import { StaticDirectory } from '../../src/server/static-directory.ts';
import { TunnelServer } from '../../src/server/tunnel-server.ts';
import { freePort } from './net.ts';

/** Collects JSON log lines in memory so tests can assert on codes (and on the absence of secrets). */
export class LogCapture {
  readonly lines: string[] = [];
  readonly logger: Logger;

  constructor() {
    const lines = this.lines;
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    this.logger = createLogger('debug', stream);
  }

  codes(): string[] {
    return this.lines.map((l) => (JSON.parse(l) as { code?: string }).code).filter((c): c is string => !!c);
  }

  text(): string {
    return this.lines.join('\n');
  }
}

export function license(
  name: string,
  key: string,
  mappings: Array<Partial<MappingRecord> & { publicPort: number; targetPort: number }>,
): LicenseRecord {
  return {
    id: name,
    name,
    key,
    enabled: true,
    mappings: mappings.map((m) => ({
      id: `${name}:${m.publicPort}`,
      protocol: 'tcp',
      targetHost: '127.0.0.1',
      enabled: true,
      ...m,
    })),
  };
}

export interface StackOptions {
  tls?: boolean;
  server?: Partial<TunnelServerOptions>;
  client?: Partial<TunnelClientOptions>;
}

export interface Stack {
  server: TunnelServer;
  directory: StaticDirectory;
  serverLog: LogCapture;
  clientLog: LogCapture;
  tunnelPort: number;
  fingerprint?: string;
  /** Every client started so far, in order. */
  clients: readonly TunnelClient[];
  /** Starts a client (started, not yet online) with `key`. Closed with the stack. */
  client(key: string, options?: Partial<TunnelClientOptions>): TunnelClient;
  /** Starts a client and waits until it is online. */
  onlineClient(key: string, options?: Partial<TunnelClientOptions>): Promise<TunnelClient>;
  close(): Promise<void>;
}

export const KEY = 'test-license-key-0123456789abcdef';

export async function startStack(
  t: TestContext,
  licenses: LicenseRecord[],
  options: StackOptions = {},
): Promise<Stack> {
  const serverLog = new LogCapture();
  const clientLog = new LogCapture();
  const directory = new StaticDirectory(licenses);
  let dataDir: string | undefined;
  let tlsListen: TunnelServerOptions['tls'];
  let fingerprint: string | undefined;
  if (options.tls) {
    dataDir = await mkdtemp(join(tmpdir(), 'muon-test-'));
    const identity = await loadOrCreateTlsIdentity({ dataDir });
    fingerprint = identity.fingerprint;
    tlsListen = { host: '127.0.0.1', port: 0, cert: identity.cert, key: identity.key };
  }
  const server = new TunnelServer({
    ...SERVER_DEFAULTS,
    publicHost: '127.0.0.1',
    directory,
    logger: serverLog.logger,
    ...(tlsListen ? { tls: tlsListen } : { plain: { host: '127.0.0.1', port: 0 } }),
    ...options.server,
  });
  await server.listen();
  const addresses = server.addresses;
  const tunnelPort = (options.tls ? addresses.tls?.port : addresses.plain?.port) as number;
  const clients: TunnelClient[] = [];

  const makeClient = (key: string, overrides: Partial<TunnelClientOptions> = {}) => {
    const client = new TunnelClient({
      ...CLIENT_DEFAULTS,
      server: { host: '127.0.0.1', port: tunnelPort },
      tls: fingerprint ? { fingerprint } : false,
      licenseKey: key,
      logger: clientLog.logger,
      minIdleChannels: 2,
      // The JavaScript relay unless a test asks for raw sessions (test/e2e/raw-sessions.test.ts).
      raw: false,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 500,
      ...options.client,
      ...overrides,
    });
    clients.push(client);
    client.start();
    return client;
  };

  const stack: Stack = {
    server,
    directory,
    serverLog,
    clientLog,
    tunnelPort,
    clients,
    client: makeClient,
    async onlineClient(key, overrides) {
      const client = makeClient(key, overrides);
      await once(client, 'online', { signal: AbortSignal.timeout(5000) });
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  if (fingerprint) stack.fingerprint = fingerprint;
  t.after(() => stack.close());
  return stack;
}

export { freePort };
