// `muon server`: loads the configuration, prepares the data directory and TLS identity, and runs
// the tunnel server until SIGINT/SIGTERM. It prints the certificate fingerprint and a client
// command to paste, with a <KEY> placeholder: license keys are never printed or logged.

import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { formatHostPort } from '../config/host-port.ts';
import { loadServerConfig, type ServerFlags, toServerSettings } from '../config/server-config.ts';
import { describeIoError } from '../config/yaml-file.ts';
import { MuonError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { compactHeap, IdleCompactor } from './compact-heap.ts';
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
    .option('--admin-host <host>', 'address of the admin API (default 127.0.0.1)')
    .option('--admin-port <port>', 'port of the admin API (default 9080)')
    .option(
      '--admin-tls',
      "serve the admin API over HTTPS with the tunnel's certificate (default plain HTTP)",
    )
    .option('--http-port <port>', 'shared HTTP port for http mappings, routed by Host (off unless set)')
    .option('--http-host <host>', 'address of the shared HTTP port (default 0.0.0.0)')
    .option('--https-port <port>', 'shared HTTPS port for https mappings, TLS by SNI (off unless set)')
    .option('--https-host <host>', 'address of the shared HTTPS port (default 0.0.0.0)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment (MUON_DATA_DIR, MUON_TUNNEL_HOST, MUON_TUNNEL_PORT,\n' +
        'MUON_TUNNEL_PLAIN_PORT, MUON_PUBLIC_HOST, MUON_STORE_URL, MUON_ADMIN_HOST, MUON_ADMIN_PORT,\n' +
        'MUON_ADMIN_TLS, MUON_HTTP_HOST, MUON_HTTP_PORT, MUON_HTTPS_HOST, MUON_HTTPS_PORT,\n' +
        'MUON_LOG_LEVEL) > config file > defaults.\n' +
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
  const { startServerRuntime } = await import('./server-runtime.ts');

  const { tls } = config.tunnel;
  const identity = await loadOrCreateTlsIdentity({
    dataDir: config.dataDir,
    ...(tls && { certFile: tls.cert, keyFile: tls.key }),
  });
  const logger = createLogger(config.log.level);
  if (identity.generated) logger.info({ dataDir: config.dataDir }, 'generated a self-signed TLS certificate');

  const runtime = await startServerRuntime(
    config,
    { cert: identity.cert, key: identity.key },
    logger,
    process.env,
  );
  const server = runtime.tunnel;
  const settings = toServerSettings(config);
  compactHeap(); // start-up is over: give its memory back before reporting ready
  const compactor = new IdleCompactor(); // and again whenever a burst has passed
  closeOnSignals(async () => {
    compactor.close();
    await runtime.close();
  }, logger);

  const tlsAddress = endpoint(server.addresses.tls, settings.tls);
  const plain = settings.plain && endpoint(server.addresses.plain, settings.plain);
  const adminAddress = runtime.admin?.address;
  const admin = adminAddress && { host: adminAddress.address, port: adminAddress.port };
  const adminUrl = admin && `${runtime.adminTls ? 'https' : 'http'}://${formatHostPort(admin)}/`;
  const routed = runtime.http?.addresses ?? {};
  const http = routed.http && { host: routed.http.address, port: routed.http.port };
  const https = routed.https && { host: routed.https.address, port: routed.https.port };
  logger.info(
    {
      tls: tlsAddress,
      ...(plain && { plain }),
      ...(admin && { admin: { ...admin, url: adminUrl, ...runtime.adminTls } }),
      ...(http && { http }),
      ...(https && { https }),
      ...(runtime.acme && { acme: config.acme?.directoryUrl }),
      store: runtime.store.location,
      fingerprint: identity.fingerprint,
    },
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
  if (adminUrl) {
    say(`web console and admin API on ${adminUrl} (store: ${runtime.store.location})`);
  }
  if (runtime.adminTls) {
    // With the tunnel's self-signed certificate, this is what to check the browser's warning against.
    say(`admin API certificate fingerprint (SHA-256): ${runtime.adminTls.fingerprint}`);
  }
  if (http || https) {
    say(
      'http(s) mappings by host name on ' +
        [http && `HTTP ${formatHostPort(http)}`, https && `HTTPS ${formatHostPort(https)}`]
          .filter(Boolean)
          .join(' and ') +
        (runtime.acme
          ? `; certificates from ACME (${config.acme?.directoryUrl}) for domains with acme on`
          : ''),
    );
  }
  if (runtime.firstAdminPassword) {
    // Shown once, on the terminal only: it is never written to the log.
    say(
      `first start: created admin user "admin" with password ${runtime.firstAdminPassword} (change it after logging in)`,
    );
  }
  if (config.licenses.length === 0 && runtime.firstAdminPassword) {
    say(
      'no licenses yet: declare them under `licenses:` in a config file (docs/configuration.md) or in the admin API',
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
