// The server's YAML contract (names are part of Muon's interface: operators depend on them),
// its defaults, and the checks that span several settings (unique names, keys and ports).

import * as z from 'zod';
import { SERVER_DEFAULTS } from '../server/options.ts';
import { formatDuration } from './duration.ts';
import {
  bool,
  duration,
  filePath,
  host,
  hostPort,
  integer,
  licenseKey,
  logLevel,
  port,
  section,
} from './fields.ts';
import type { Problem } from './problems.ts';

export const DEFAULT_DATA_DIR = './muon-data';
export const DEFAULT_TUNNEL_PORT = 9443;
export const DEFAULT_ADMIN_PORT = 9080;
/** How often counted traffic is written to the store: about what a crash (kill -9) can lose. */
export const DEFAULT_TRAFFIC_FLUSH_MS = 10_000;

/**
 * store.trafficFlushInterval: at least 1s, so a unitless typo (`10`, read as 10 ms) cannot turn
 * it into a stream of writes; at most 1h, past which a crash would lose hours of counts.
 */
function trafficFlushInterval() {
  return duration().refine((ms) => ms >= 1000 && ms <= 3_600_000, { error: 'must be 1s–1h' });
}

function bytesPerSecond() {
  return integer(1, Number.MAX_SAFE_INTEGER, 'must be a positive integer (bytes per second)');
}

/** Speed limits (over all connections together) and a connection limit; unset = unlimited. */
const trafficLimits = {
  uploadLimit: bytesPerSecond().optional(),
  downloadLimit: bytesPerSecond().optional(),
  maxConnections: integer(1, 2 ** 31 - 1, 'must be a positive integer (connections)').optional(),
};

const mapping = section({
  protocol: z.enum(['tcp', 'udp'], { error: 'must be tcp or udp' }).default('tcp'),
  port: port(),
  target: hostPort(),
  enabled: bool().default(true),
  /** TCP only: the PROXY protocol header the client writes to the target before the visitor's bytes. */
  proxyProtocol: z.enum(['v1', 'v2'], { error: 'must be v1 or v2 (or leave it out)' }).optional(),
  ...trafficLimits,
});

/** Spelt out for every wrong value of admin.tls. */
const ADMIN_TLS_FORMS = 'expected true, false or { cert: <file>, key: <file> }';

/**
 * `admin.tls`: false (plain HTTP), true (HTTPS with the tunnel's own certificate) or the
 * operator's PEM files. A mapping is checked as one, so a missing or misspelt key is reported at
 * its own path rather than as "none of the forms". The environment gives `true`/`false` as text.
 */
function adminTls() {
  const files = section({ cert: filePath(), key: filePath() });
  const flag = z.boolean({ error: ADMIN_TLS_FORMS });
  return z.preprocess(
    (value) => (value === 'true' ? true : value === 'false' ? false : value),
    z.unknown().transform((value, ctx): boolean | { cert: string; key: string } => {
      const form = typeof value === 'object' && value !== null && !Array.isArray(value) ? files : flag;
      const result = form.safeParse(value);
      if (result.success) return result.data;
      for (const issue of result.error.issues) ctx.addIssue({ ...issue });
      return z.NEVER;
    }),
  );
}

const license = section({
  name: z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'expected a string') })
    .trim()
    .min(1, { error: 'must not be empty' }),
  key: licenseKey(),
  enabled: bool().default(true),
  ...trafficLimits,
  mappings: z.array(mapping, { error: 'expected a list of mappings' }).default([]),
});

export const serverSchema = section({
  dataDir: filePath().default(DEFAULT_DATA_DIR),
  tunnel: section({
    host: host().default('0.0.0.0'),
    port: port().default(DEFAULT_TUNNEL_PORT),
    plainPort: port().optional(),
    tls: section({ cert: filePath(), key: filePath() }).optional(),
  }).prefault({}),
  publicHost: host().default(SERVER_DEFAULTS.publicHost),
  heartbeat: section({
    interval: duration().default(SERVER_DEFAULTS.heartbeatIntervalMs),
    timeout: duration().default(SERVER_DEFAULTS.heartbeatTimeoutMs),
  }).prefault({}),
  limits: section({
    handshakeTimeout: duration().default(SERVER_DEFAULTS.handshakeTimeoutMs),
    connectTimeout: duration().default(SERVER_DEFAULTS.connectTimeoutMs),
    maxFrameSize: integer(65_536, 16_777_216, 'must be 65536–16777216 (bytes)').default(
      SERVER_DEFAULTS.maxFrameSize,
    ),
    idleChannelTimeout: duration().default(SERVER_DEFAULTS.idleChannelTimeoutMs),
    maxIdleChannels: integer(0, 65_535).default(SERVER_DEFAULTS.maxIdleChannels),
    maxAuthFailuresPerMinute: integer(1, 1_000_000).default(SERVER_DEFAULTS.maxAuthFailuresPerMinute),
    maxPendingHandshakes: integer(1, 1_000_000).default(SERVER_DEFAULTS.maxPendingHandshakes),
    maxChannelsPerSession: integer(1, 1_000_000).default(SERVER_DEFAULTS.maxChannelsPerSession),
    maxRawSessions: integer(0, 1_000_000).default(SERVER_DEFAULTS.maxRawSessions),
    rawSessionMinBytes: integer(0, 1_099_511_627_776, 'must be 0–1099511627776 (bytes)').default(
      SERVER_DEFAULTS.rawSessionMinBytes,
    ),
    udpIdleTimeout: duration().default(SERVER_DEFAULTS.udpIdleTimeoutMs),
    /** TCP sessions: silence allowed once either side has half-closed, and at any time (off unless set). */
    halfClosedTimeout: duration().default(SERVER_DEFAULTS.halfClosedTimeoutMs),
    tcpIdleTimeout: duration().optional(),
  }).prefault({}),
  store: section({
    url: z
      .string({ error: 'expected a string' })
      .regex(/^(postgres(ql)?:\/\/|pglite:)/, { error: 'must start with postgres:// (or pglite: for tests)' })
      .optional(),
    trafficFlushInterval: trafficFlushInterval().default(DEFAULT_TRAFFIC_FLUSH_MS),
  }).prefault({}),
  admin: section({
    enabled: bool().default(true),
    host: host().default('127.0.0.1'),
    port: port().default(DEFAULT_ADMIN_PORT),
    /** HTTPS for the admin API and console; plain HTTP unless set. */
    tls: adminTls().optional(),
    /** A bearer token that lets a Prometheus scraper read /metrics without a session. */
    metricsToken: z
      .string({ error: 'expected a string' })
      .min(24, { error: 'must be at least 24 characters (make one with `muon keygen`)' })
      .optional(),
  }).prefault({}),
  /** The shared plain-HTTP port for http mappings (routed by Host); off unless set. */
  http: section({ host: host().default('0.0.0.0'), port: port() }).optional(),
  /** The shared HTTPS port for https mappings (TLS by SNI with each domain's certificate); off unless set. */
  https: section({ host: host().default('0.0.0.0'), port: port() }).optional(),
  /** Certificates from an ACME authority (HTTP-01 on the shared HTTP port); off unless directoryUrl is set. */
  acme: section({
    directoryUrl: z
      .url({ protocol: /^https?$/, error: 'expected the http(s) URL of an ACME directory' })
      .optional(),
    email: z.email({ error: 'expected an e-mail address' }).optional(),
    renewBeforeDays: integer(1, 365, 'must be 1–365 (days)').default(30),
    /** A PEM file of a CA to trust for the directory's HTTPS (a private or test authority). */
    caCertificate: filePath().optional(),
  }).optional(),
  log: section({ level: logLevel().default('info') }).prefault({}),
  licenses: z.array(license, { error: 'expected a list of licenses' }).default([]),
});

export type ServerConfig = z.output<typeof serverSchema>;

/** Checks that involve more than one setting; run once every setting is valid on its own. */
export function checkServer(config: ServerConfig): Problem[] {
  const problems: Problem[] = [];
  const { heartbeat, tunnel } = config;
  if (heartbeat.timeout <= heartbeat.interval) {
    problems.push({
      path: ['heartbeat', 'timeout'],
      message: `must be longer than heartbeat.interval (${formatDuration(heartbeat.interval)})`,
    });
  }
  if (tunnel.plainPort === tunnel.port) {
    problems.push({ path: ['tunnel', 'plainPort'], message: 'must differ from tunnel.port' });
  }

  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  const ports = new Map<number, string>([[tunnel.port, 'tunnel.port']]);
  const udpPorts = new Map<number, string>();
  if (tunnel.plainPort !== undefined) ports.set(tunnel.plainPort, 'tunnel.plainPort');
  if (config.admin.enabled) {
    const owner = ports.get(config.admin.port);
    if (owner)
      problems.push({ path: ['admin', 'port'], message: `${config.admin.port} is already used by ${owner}` });
    else ports.set(config.admin.port, 'admin.port');
  }
  for (const name of ['http', 'https'] as const) {
    const listener = config[name];
    if (!listener) continue;
    const owner = ports.get(listener.port);
    if (owner)
      problems.push({ path: [name, 'port'], message: `${listener.port} is already used by ${owner}` });
    else ports.set(listener.port, `${name}.port`);
  }
  if (config.acme?.directoryUrl !== undefined && !config.http) {
    problems.push({
      path: ['acme', 'directoryUrl'],
      message: 'needs the shared HTTP port (http.port): ACME HTTP-01 challenges are answered there',
    });
  }

  config.licenses.forEach((license, i) => {
    const firstName = names.get(license.name);
    if (firstName === undefined) names.set(license.name, i);
    else
      problems.push({
        path: ['licenses', i, 'name'],
        message: `"${license.name}" is already used by licenses[${firstName}]`,
      });

    // The message names the other license, never the key itself.
    const firstKey = keys.get(license.key);
    if (firstKey === undefined) keys.set(license.key, i);
    else
      problems.push({
        path: ['licenses', i, 'key'],
        message: `same key as licenses[${firstKey}]; every license needs its own key`,
      });

    license.mappings.forEach((mapping, j) => {
      // UDP ports are a namespace of their own: udp 9443 does not collide with the TLS tunnel port.
      const taken = mapping.protocol === 'udp' ? udpPorts : ports;
      const owner = taken.get(mapping.port);
      if (owner === undefined) {
        taken.set(mapping.port, `licenses[${i}].mappings[${j}] (license "${license.name}")`);
      } else {
        problems.push({
          path: ['licenses', i, 'mappings', j, 'port'],
          message: `${mapping.protocol === 'udp' ? 'UDP ' : ''}${mapping.port} (license "${license.name}") is already used by ${owner}`,
        });
      }
      if (mapping.protocol === 'udp' && mapping.proxyProtocol !== undefined) {
        problems.push({
          path: ['licenses', i, 'mappings', j, 'proxyProtocol'],
          message: 'only tcp mappings can send a PROXY protocol header',
        });
      }
    });
  });
  return problems;
}
