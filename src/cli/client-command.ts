// `muon client`: loads the configuration and runs the tunnel client until SIGINT/SIGTERM, or
// until it gives up on a permanent error (wrong license, certificate mismatch): then it says
// what to fix and exits with code 1. The license key is never printed or logged.

import type { Command } from 'commander';
import {
  type ClientConfig,
  type ClientFlags,
  loadClientConfig,
  toClientOptions,
} from '../config/client-config.ts';
import { formatHostPort } from '../config/host-port.ts';
import type { ErrorCode, MuonError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { compactHeap, IdleCompactor } from './compact-heap.ts';
import { closeOnSignals, closeThenExit, EXIT_FAILURE, say } from './lifecycle.ts';

interface ClientCommandOptions extends ClientFlags {
  config?: string;
}

/** What the operator should check when the client gives up with one of these codes. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  MUON_ERR_AUTH_FAILED:
    'the server does not accept this license key; check license:, MUON_LICENSE or --license',
  MUON_ERR_LICENSE_DISABLED: 'the license is disabled on the server; ask its operator to enable it',
  MUON_ERR_FINGERPRINT_MISMATCH:
    'the server certificate does not match tls.fingerprint; compare it with the fingerprint "muon server" prints at start',
  MUON_ERR_SERVER_AUTH_FAILED:
    'the server could not prove it knows the license key: it may not be the server you meant to reach',
  MUON_ERR_UNSUPPORTED_VERSION: 'the client and server versions are incompatible; upgrade the older one',
  MUON_ERR_BAD_MAGIC: 'the address does not answer like a Muon server (wrong port, or TLS/plain mismatch?)',
};

export function registerClientCommand(program: Command): void {
  program
    .command('client')
    .description('run a Muon client: connect to the server and dial local services on its behalf')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--server <host:port>', 'the Muon server tunnel address, e.g. example.com:9443')
    .option(
      '--license <key>',
      'license key (prefer MUON_LICENSE or the config file: flags are visible to other users)',
    )
    .option('--fingerprint <fp>', 'SHA-256 fingerprint of the server certificate (printed by "muon server")')
    .option('--ca <file>', 'CA certificate (PEM) that signed the server certificate')
    .option('--plain', 'use plain TCP instead of TLS (unencrypted; trusted networks only)')
    .option('--min-idle <n>', 'idle proxy channels kept ready for visitors (default 8)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment (MUON_SERVER, MUON_LICENSE, MUON_FINGERPRINT, MUON_CA,\n' +
        'MUON_LOG_LEVEL) > config file > defaults. The server must be verified: give --fingerprint\n' +
        'or --ca, or choose --plain explicitly. See docs/configuration.md.',
    )
    .action(runClient);
}

async function runClient(options: ClientCommandOptions): Promise<void> {
  const config = await loadClientConfig({ file: options.config, env: process.env, flags: options });
  const logger = createLogger(config.log.level);
  // Loaded here so that --help and config errors never depend on the tunnel core.
  const { TunnelClient } = await import('../client/tunnel-client.ts');
  const client = new TunnelClient({ ...toClientOptions(config), logger });

  client.on('fatal', (error: MuonError) => {
    const hint = HINTS[error.code];
    say(`giving up: ${error.message} (${error.code})${hint ? `\n${hint}` : ''}`);
    closeThenExit(() => client.close(), EXIT_FAILURE);
  });
  // Once the first session is up, start-up is over: give its memory back (compact-heap.ts), and
  // again whenever a burst has passed.
  client.once('online', compactHeap);
  const compactor = new IdleCompactor();
  closeOnSignals(async () => {
    compactor.close();
    await client.close();
  }, logger);
  client.start();

  const server = formatHostPort(config.server);
  logger.info({ server, security: security(config), minIdle: config.pool.minIdle }, 'muon client started');
  say(`client started: connecting to ${server} (${security(config)})`);
}

function security(config: ClientConfig): string {
  if (config.tls === false) return 'plain TCP, unencrypted';
  return config.tls.fingerprint !== undefined ? 'TLS, pinned fingerprint' : 'TLS, verified by CA';
}
