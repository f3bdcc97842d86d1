// `muon server`: loads the configuration, prepares the data directory and TLS identity, and runs
// the tunnel server until SIGINT/SIGTERM. It prints the certificate fingerprint and a client
// command to paste, with a <KEY> placeholder: license keys are never printed or logged.

import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { formatHostPort } from '../config/host-port.ts';
import {
  loadServerConfig,
  type ServerFlags,
  toLicenseRecords,
  toServerSettings,
} from '../config/server-config.ts';
import { describeIoError } from '../config/yaml-file.ts';
import { MuonError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { StaticDirectory } from '../server/static-directory.ts';
import { closeOnSignals, say } from './lifecycle.ts';

interface ServerCommandOptions extends ServerFlags {
  config?: string;
}

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the Muon server: tunnel listeners and the public ports of its licenses')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--data-dir <dir>', 'data directory: generated TLS certificate and state (default ./muon-data)')
    .option('--host <host>', 'address the tunnel ports listen on (default 0.0.0.0)')
    .option('--tunnel-port <port>', 'TLS tunnel port (default 9443)')
    .option('--plain-port <port>', 'plain-TCP tunnel port, unencrypted (off unless set)')
    .option('--public-host <host>', 'address the mapped public ports listen on (default 0.0.0.0)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment (MUON_DATA_DIR, MUON_TUNNEL_HOST, MUON_TUNNEL_PORT,\n' +
        'MUON_TUNNEL_PLAIN_PORT, MUON_PUBLIC_HOST, MUON_LOG_LEVEL) > config file > defaults.\n' +
        'Licenses and their port mappings are declared in the config file; see docs/configuration.md.',
    )
    .action(runServer);
}

async function runServer(options: ServerCommandOptions): Promise<void> {
  const config = await loadServerConfig({ file: options.config, env: process.env, flags: options });
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new MuonError(
      'MUON_ERR_CONFIG',
      `dataDir: cannot create ${config.dataDir}: ${describeIoError(error)}`,
    );
  }
  // Loaded here rather than at the top so that --help, keygen and config errors stay quick and
  // never depend on the tunnel core.
  const { loadOrCreateTlsIdentity } = await import('../net/tls-identity.ts');
  const { TunnelServer } = await import('../server/tunnel-server.ts');

  const { tls } = config.tunnel;
  const identity = await loadOrCreateTlsIdentity({
    dataDir: config.dataDir,
    ...(tls && { certFile: tls.cert, keyFile: tls.key }),
  });
  const logger = createLogger(config.log.level);
  if (identity.generated) logger.info({ dataDir: config.dataDir }, 'generated a self-signed TLS certificate');

  const settings = toServerSettings(config);
  const server = new TunnelServer({
    ...settings,
    tls: { ...settings.tls, cert: identity.cert, key: identity.key },
    directory: new StaticDirectory(toLicenseRecords(config)),
    logger,
  });
  try {
    await server.listen();
  } catch (error) {
    await server.close().catch(() => {});
    throw error;
  }
  closeOnSignals(() => server.close(), logger);

  const tlsAddress = endpoint(server.addresses.tls, settings.tls);
  const plain = settings.plain && endpoint(server.addresses.plain, settings.plain);
  logger.info(
    { tls: tlsAddress, ...(plain && { plain }), fingerprint: identity.fingerprint },
    'muon server ready',
  );

  const clientHost = isWildcard(tlsAddress.host) ? '<server-host>' : tlsAddress.host;
  say(
    `server ready: TLS tunnel on ${formatHostPort(tlsAddress)}` +
      (plain ? `, plain-TCP tunnel on ${formatHostPort(plain)}` : '') +
      `\ncertificate fingerprint (SHA-256): ${identity.fingerprint}` +
      `\nconnect a client with: muon client --server ${formatHostPort({ host: clientHost, port: tlsAddress.port })}` +
      ` --license <KEY> --fingerprint ${identity.fingerprint}`,
  );
  if (config.licenses.length === 0) {
    say(
      'no licenses are configured yet: declare them under `licenses:` in a config file (docs/configuration.md)',
    );
  }
}

/** The address actually bound (port 0 resolved), or the configured one. */
function endpoint(bound: AddressInfo | undefined, configured: { host: string; port: number }) {
  return bound ? { host: bound.address, port: bound.port } : { host: configured.host, port: configured.port };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
