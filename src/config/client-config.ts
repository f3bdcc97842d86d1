// Loads the client's configuration (flags > environment > YAML file > defaults), reads the CA
// file it names, and turns it into TunnelClientOptions.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CLIENT_DEFAULTS, type TunnelClientOptions } from '../client/options.ts';
import type { LogLevel } from '../log.ts';
import { checkClient, clientSchema } from './client-schema.ts';
import { CLIENT_ENV } from './env.ts';
import type { HostPort } from './host-port.ts';
import { type ConfigLayout, type ConfigSources, mergeSources, validate } from './load.ts';
import { configError, type Problem } from './problems.ts';
import { describeIoError } from './yaml-file.ts';

export interface ClientTlsConfig {
  /** `AB:CD:…` (normalised). */
  fingerprint?: string;
  /** The CA certificate file and its contents, read at load time. */
  ca?: { file: string; pem: string };
  servername?: string;
}

export interface ClientConfig {
  server: HostPort;
  /** The secret license key. Never log or print it. */
  license: string;
  /** false: plain TCP, chosen explicitly with `plain: true`. */
  tls: ClientTlsConfig | false;
  /**
   * `mux`: one multiplexed carrier for all sessions when the server allows it; `raw`: raw
   * sessions through the kernel relay (spliced on a plain tunnel, sealed on a TLS one).
   */
  pool: { minIdle: number; maxChannels: number; mux: boolean; raw: boolean };
  reconnect: { initialDelay: number; maxDelay: number };
  connectTimeout: number;
  /**
   * How long the server may take to answer each step of a tunnel connection's setup (TCP and TLS,
   * its greeting, the answer to AUTH), for the command channel and every proxy channel.
   */
  handshakeTimeout: number;
  log: { level: LogLevel };
}

/** Command-line values; numbers may arrive as the strings typed on the command line. */
export interface ClientFlags {
  server?: string | undefined;
  license?: string | undefined;
  fingerprint?: string | undefined;
  ca?: string | undefined;
  plain?: boolean | undefined;
  minIdle?: string | number | undefined;
  logLevel?: string | undefined;
}

export const CLIENT_LAYOUT: ConfigLayout<ClientFlags> = {
  env: CLIENT_ENV,
  flags: {
    server: { path: ['server'], flag: '--server' },
    license: { path: ['license'], flag: '--license' },
    fingerprint: { path: ['tls', 'fingerprint'], flag: '--fingerprint' },
    ca: { path: ['tls', 'ca'], flag: '--ca' },
    plain: { path: ['plain'], flag: '--plain' },
    minIdle: { path: ['pool', 'minIdle'], flag: '--min-idle' },
    logLevel: { path: ['log', 'level'], flag: '--log-level' },
  },
  paths: [['tls', 'ca']],
};

/** The validated configuration, CA file read. Throws MuonError('MUON_ERR_CONFIG'). */
export async function loadClientConfig(sources: ConfigSources<ClientFlags> = {}): Promise<ClientConfig> {
  const merged = await mergeSources(sources, CLIENT_LAYOUT);
  const config = validate(clientSchema, merged);
  const problems = checkClient(config);
  if (problems.length > 0) throw configError(problems, merged.origins);

  let tls: ClientTlsConfig | false = false;
  if (!config.plain) {
    const { fingerprint, ca, servername } = config.tls ?? {};
    tls = {
      ...(fingerprint !== undefined && { fingerprint }),
      ...(servername !== undefined && { servername }),
    };
    if (ca !== undefined) {
      const file = resolve(sources.cwd ?? process.cwd(), ca);
      const pem = await readCertificate(file);
      if (typeof pem !== 'string') throw configError([pem], merged.origins);
      tls.ca = { file, pem };
    }
  }
  return {
    server: config.server,
    license: config.license,
    tls,
    pool: config.pool,
    reconnect: config.reconnect,
    connectTimeout: config.connectTimeout,
    handshakeTimeout: config.handshakeTimeout,
    log: config.log,
  };
}

/** The PEM text of a CA file, or the problem with it. */
async function readCertificate(file: string): Promise<string | Problem> {
  const path = ['tls', 'ca'];
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    return { path, message: `cannot read ${file}: ${describeIoError(error)}` };
  }
  try {
    new X509Certificate(pem);
  } catch {
    return { path, message: `${file} does not contain a PEM certificate` };
  }
  return pem;
}

/** TunnelClientOptions without the logger, which the caller supplies. */
export function toClientOptions(config: ClientConfig): Omit<TunnelClientOptions, 'logger'> {
  const { tls } = config;
  return {
    server: config.server,
    tls: tls && {
      ...(tls.fingerprint !== undefined && { fingerprint: tls.fingerprint }),
      ...(tls.ca !== undefined && { ca: tls.ca.pem }),
      ...(tls.servername !== undefined && { servername: tls.servername }),
    },
    licenseKey: config.license,
    minIdleChannels: config.pool.minIdle,
    maxChannels: config.pool.maxChannels,
    targetConnectTimeoutMs: config.connectTimeout,
    handshakeTimeoutMs: config.handshakeTimeout,
    reconnectInitialDelayMs: config.reconnect.initialDelay,
    reconnectMaxDelayMs: config.reconnect.maxDelay,
    maxFrameSize: CLIENT_DEFAULTS.maxFrameSize,
    mux: config.pool.mux,
    raw: config.pool.raw,
  };
}
