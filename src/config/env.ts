// Environment variables that override the YAML file (and are overridden by flags). An empty
// variable counts as unset, so `MUON_LICENSE=` in a unit file does not replace the file's value.

import { type Layer, layerOf } from './layers.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** Variable name → setting path in the YAML shape. */
export type EnvTable = Readonly<Record<string, readonly string[]>>;

export const SERVER_ENV: EnvTable = {
  MUON_DATA_DIR: ['dataDir'],
  MUON_TUNNEL_HOST: ['tunnel', 'host'],
  MUON_TUNNEL_PORT: ['tunnel', 'port'],
  MUON_TUNNEL_PLAIN_PORT: ['tunnel', 'plainPort'],
  MUON_PUBLIC_HOST: ['publicHost'],
  MUON_LOG_LEVEL: ['log', 'level'],
  MUON_STORE_URL: ['store', 'url'],
  MUON_TRAFFIC_FLUSH_INTERVAL: ['store', 'trafficFlushInterval'],
  MUON_ADMIN_HOST: ['admin', 'host'],
  MUON_ADMIN_PORT: ['admin', 'port'],
  // true or false: replaces the whole admin.tls setting, as --admin-tls does (certificate files
  // are set in the file only, like tunnel.tls).
  MUON_ADMIN_TLS: ['admin', 'tls'],
  MUON_HTTP_HOST: ['http', 'host'],
  MUON_HTTP_PORT: ['http', 'port'],
  MUON_HTTPS_HOST: ['https', 'host'],
  MUON_HTTPS_PORT: ['https', 'port'],
  MUON_METRICS_TOKEN: ['admin', 'metricsToken'],
  MUON_ACME_DIRECTORY_URL: ['acme', 'directoryUrl'],
  MUON_ACME_EMAIL: ['acme', 'email'],
  MUON_ACME_RENEW_BEFORE_DAYS: ['acme', 'renewBeforeDays'],
  MUON_ACME_CA_CERTIFICATE: ['acme', 'caCertificate'],
};

export const CLIENT_ENV: EnvTable = {
  MUON_SERVER: ['server'],
  MUON_LICENSE: ['license'],
  MUON_FINGERPRINT: ['tls', 'fingerprint'],
  MUON_CA: ['tls', 'ca'],
  MUON_LOG_LEVEL: ['log', 'level'],
};

export function envLayer(env: Env, table: EnvTable): Layer {
  return layerOf(
    Object.entries(table).map(([name, path]) => ({ path, value: env[name] || undefined, source: name })),
  );
}
