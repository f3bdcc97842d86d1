// The client's YAML contract (names are part of Muon's interface), its defaults, and the checks
// that span several settings, above all that the client has a way to verify the server.

import type * as z from 'zod';
import { CLIENT_DEFAULTS } from '../client/options.ts';
import { formatDuration } from './duration.ts';
import {
  bool,
  duration,
  filePath,
  fingerprint,
  host,
  hostPort,
  integer,
  licenseKey,
  logLevel,
  section,
} from './fields.ts';
import type { Problem } from './problems.ts';

export const clientSchema = section({
  server: hostPort('required (host:port of the Muon server; set server:, MUON_SERVER or --server)'),
  license: licenseKey(
    'required (the license key from the server operator; set license:, MUON_LICENSE or --license)',
  ),
  tls: section({
    fingerprint: fingerprint().optional(),
    ca: filePath().optional(),
    servername: host().optional(),
  }).optional(),
  plain: bool().default(false),
  pool: section({
    minIdle: integer(0, 65_535).default(CLIENT_DEFAULTS.minIdleChannels),
    maxChannels: integer(1, 1_000_000).default(CLIENT_DEFAULTS.maxChannels),
    mux: bool().default(CLIENT_DEFAULTS.mux),
    raw: bool().default(CLIENT_DEFAULTS.raw),
  }).prefault({}),
  reconnect: section({
    initialDelay: duration().default(CLIENT_DEFAULTS.reconnectInitialDelayMs),
    maxDelay: duration().default(CLIENT_DEFAULTS.reconnectMaxDelayMs),
  }).prefault({}),
  connectTimeout: duration().default(CLIENT_DEFAULTS.targetConnectTimeoutMs),
  handshakeTimeout: duration().default(CLIENT_DEFAULTS.handshakeTimeoutMs),
  log: section({ level: logLevel().default('info') }).prefault({}),
});

export type ClientSchemaOutput = z.output<typeof clientSchema>;

export const TLS_CHOICES =
  'the client must be able to verify the server; set one of: tls.fingerprint (the fingerprint ' +
  '"muon server" prints at start; --fingerprint or MUON_FINGERPRINT), tls.ca (a CA certificate ' +
  'file; --ca or MUON_CA), or plain: true (--plain) for an unencrypted tunnel on a trusted network';

/** Checks that involve more than one setting; run once every setting is valid on its own. */
export function checkClient(config: ClientSchemaOutput): Problem[] {
  const problems: Problem[] = [];
  const verified = config.tls?.fingerprint !== undefined || config.tls?.ca !== undefined;
  if (config.plain && verified) {
    problems.push({
      path: ['plain'],
      message: 'cannot be combined with tls.fingerprint or tls.ca: choose TLS or plain TCP',
    });
  } else if (!config.plain && !verified) {
    problems.push({ path: ['tls'], message: TLS_CHOICES });
  }
  if (config.pool.minIdle > config.pool.maxChannels) {
    problems.push({
      path: ['pool', 'minIdle'],
      message: `must not exceed pool.maxChannels (${config.pool.maxChannels})`,
    });
  }
  if (config.reconnect.initialDelay > config.reconnect.maxDelay) {
    problems.push({
      path: ['reconnect', 'initialDelay'],
      message: `must not exceed reconnect.maxDelay (${formatDuration(config.reconnect.maxDelay)})`,
    });
  }
  return problems;
}
