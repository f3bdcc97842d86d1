// Loads the server's configuration (flags > environment > YAML file > defaults) and turns it
// into what the tunnel core consumes: TunnelServerOptions settings and the static licenses.

import { resolve } from 'node:path';
import type { LicenseRecord, TrafficLimits } from '../server/directory.ts';
import type { ListenAddress, TunnelServerOptions } from '../server/options.ts';
import { SERVER_ENV } from './env.ts';
import { type ConfigLayout, type ConfigSources, mergeSources, validate } from './load.ts';
import { configError } from './problems.ts';
import { checkServer, type ServerConfig, serverSchema } from './server-schema.ts';

export type { ServerConfig } from './server-schema.ts';

/** Command-line values; numbers may arrive as the strings typed on the command line. */
export interface ServerFlags {
  dataDir?: string | undefined;
  host?: string | undefined;
  tunnelPort?: string | number | undefined;
  plainPort?: string | number | undefined;
  publicHost?: string | undefined;
  logLevel?: string | undefined;
  adminHost?: string | undefined;
  adminPort?: string | number | undefined;
  /** `--admin-tls`: HTTPS with the tunnel's own certificate. */
  adminTls?: boolean | undefined;
  httpHost?: string | undefined;
  httpPort?: string | number | undefined;
  httpsHost?: string | undefined;
  httpsPort?: string | number | undefined;
}

export const SERVER_LAYOUT: ConfigLayout<ServerFlags> = {
  env: SERVER_ENV,
  flags: {
    dataDir: { path: ['dataDir'], flag: '--data-dir' },
    host: { path: ['tunnel', 'host'], flag: '--host' },
    tunnelPort: { path: ['tunnel', 'port'], flag: '--tunnel-port' },
    plainPort: { path: ['tunnel', 'plainPort'], flag: '--plain-port' },
    publicHost: { path: ['publicHost'], flag: '--public-host' },
    logLevel: { path: ['log', 'level'], flag: '--log-level' },
    adminHost: { path: ['admin', 'host'], flag: '--admin-host' },
    adminPort: { path: ['admin', 'port'], flag: '--admin-port' },
    adminTls: { path: ['admin', 'tls'], flag: '--admin-tls' },
    httpHost: { path: ['http', 'host'], flag: '--http-host' },
    httpPort: { path: ['http', 'port'], flag: '--http-port' },
    httpsHost: { path: ['https', 'host'], flag: '--https-host' },
    httpsPort: { path: ['https', 'port'], flag: '--https-port' },
  },
  paths: [
    ['dataDir'],
    ['tunnel', 'tls', 'cert'],
    ['tunnel', 'tls', 'key'],
    ['admin', 'tls', 'cert'],
    ['admin', 'tls', 'key'],
    ['acme', 'caCertificate'],
  ],
};

/** The validated configuration, with every path absolute. Throws MuonError('MUON_ERR_CONFIG'). */
export async function loadServerConfig(sources: ConfigSources<ServerFlags> = {}): Promise<ServerConfig> {
  const merged = await mergeSources(sources, SERVER_LAYOUT);
  const config = validate(serverSchema, merged);
  const problems = checkServer(config);
  if (problems.length > 0) throw configError(problems, merged.origins);

  const cwd = sources.cwd ?? process.cwd();
  const { tls } = config.tunnel;
  const adminTls = config.admin.tls;
  const caCertificate = config.acme?.caCertificate;
  return {
    ...config,
    dataDir: resolve(cwd, config.dataDir),
    tunnel: { ...config.tunnel, tls: tls && { cert: resolve(cwd, tls.cert), key: resolve(cwd, tls.key) } },
    ...(typeof adminTls === 'object' && {
      admin: { ...config.admin, tls: { cert: resolve(cwd, adminTls.cert), key: resolve(cwd, adminTls.key) } },
    }),
    ...(config.acme && {
      acme: {
        ...config.acme,
        ...(caCertificate !== undefined && { caCertificate: resolve(cwd, caCertificate) }),
      },
    }),
  };
}

/** TunnelServerOptions without what the caller supplies: directory, logger and TLS material. */
export type ServerSettings = Omit<TunnelServerOptions, 'directory' | 'logger' | 'tls' | 'plain'> & {
  tls: ListenAddress;
  plain?: ListenAddress;
};

export function toServerSettings(config: ServerConfig): ServerSettings {
  const { tunnel, heartbeat, limits } = config;
  return {
    tls: { host: tunnel.host, port: tunnel.port },
    ...(tunnel.plainPort !== undefined && { plain: { host: tunnel.host, port: tunnel.plainPort } }),
    publicHost: config.publicHost,
    heartbeatIntervalMs: heartbeat.interval,
    heartbeatTimeoutMs: heartbeat.timeout,
    handshakeTimeoutMs: limits.handshakeTimeout,
    connectTimeoutMs: limits.connectTimeout,
    maxFrameSize: limits.maxFrameSize,
    idleChannelTimeoutMs: limits.idleChannelTimeout,
    maxIdleChannels: limits.maxIdleChannels,
    maxAuthFailuresPerMinute: limits.maxAuthFailuresPerMinute,
    maxPendingHandshakes: limits.maxPendingHandshakes,
    maxChannelsPerSession: limits.maxChannelsPerSession,
    maxRawSessions: limits.maxRawSessions,
    rawSessionMinBytes: limits.rawSessionMinBytes,
    udpIdleTimeoutMs: limits.udpIdleTimeout,
    halfClosedTimeoutMs: limits.halfClosedTimeout,
    ...(limits.tcpIdleTimeout !== undefined && { tcpIdleTimeoutMs: limits.tcpIdleTimeout }),
  };
}

/** Licenses for a StaticDirectory: license id = name, mapping id = `${name}:${port}` (`${name}:udp:${port}` for UDP). */
export function toLicenseRecords(config: ServerConfig): LicenseRecord[] {
  return config.licenses.map((license) => ({
    id: license.name,
    name: license.name,
    key: license.key,
    enabled: license.enabled,
    ...limitsOf(license),
    mappings: license.mappings.map((mapping) => ({
      id:
        mapping.protocol === 'udp'
          ? `${license.name}:udp:${mapping.port}`
          : `${license.name}:${mapping.port}`,
      protocol: mapping.protocol,
      publicPort: mapping.port,
      targetHost: mapping.target.host,
      targetPort: mapping.target.port,
      enabled: mapping.enabled,
      proxyProtocol: mapping.proxyProtocol ?? null,
      ...limitsOf(mapping),
    })),
  }));
}

/** Unset limits are unlimited (null), as the store has them. */
function limitsOf(limits: {
  uploadLimit?: number | undefined;
  downloadLimit?: number | undefined;
  maxConnections?: number | undefined;
}): Required<TrafficLimits> {
  return {
    uploadLimit: limits.uploadLimit ?? null,
    downloadLimit: limits.downloadLimit ?? null,
    maxConnections: limits.maxConnections ?? null,
  };
}
