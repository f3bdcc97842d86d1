// Everything `muon server` runs, wired together: the store (SQLite by default), the licenses
// declared in the YAML mirrored into it, the tunnel server reading licenses through the store,
// metrics and traffic statistics fed by the tunnel, the HTTP(S) router when configured (with the
// ACME certificate manager when `acme.directoryUrl` is set), and the admin API (over HTTPS with
// `admin.tls`, its certificate checked before anything else starts). close() stops them
// in order (router and tunnel first, so the last traffic is flushed to the store before the store
// closes).

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AcmeTuning, CertificateManager } from '../acme/certificate-manager.ts';
import { ChallengeStore } from '../acme/challenge-store.ts';
import { AdminServer } from '../admin/admin-server.ts';
import { loadAdminTls } from '../admin/admin-tls.ts';
import type { AdminDeps } from '../admin/app.ts';
import { ConsoleAssets } from '../admin/console-assets.ts';
import { ensureFirstAdmin, FIRST_ADMIN } from '../admin/first-admin.ts';
import { Metrics } from '../admin/metrics.ts';
import { checkPassword } from '../admin/passwords.ts';
import type { ServerInfo } from '../admin/server-routes.ts';
import { SessionTokens } from '../admin/session-tokens.ts';
import { TrafficRecorder } from '../admin/traffic-recorder.ts';
import { type ServerConfig, toLicenseRecords, toServerSettings } from '../config/server-config.ts';
import { MuonError } from '../errors.ts';
import type { HttpRouter } from '../http/http-router.ts';
import type { Logger } from '../log.ts';
import { FailureLimiter } from '../net/failure-limiter.ts';
import { fingerprintOf } from '../net/fingerprint.ts';
import { PROJECT_ROOT } from '../project-root.ts';
import { combineObservers, NULL_OBSERVER } from '../server/observer.ts';
import { TunnelServer } from '../server/tunnel-server.ts';
import { applyDeclaredLicenses } from '../store/declared-licenses.ts';
import { openStore, type Store } from '../store/store.ts';
import { StoreAcme } from '../store/store-acme.ts';
import { StoreDirectory } from '../store/store-directory.ts';
import { StoreHttpDirectory } from '../store/store-http-directory.ts';
import { muonVersion } from '../version.ts';
import { SessionRecorder } from './session-recorder.ts';
import { storeAccounts } from './store-accounts.ts';

/** How often minute buckets are rolled up to hours, days and months (cheap: only the periods since the last run), and old rows pruned. */
const ROLL_UP_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const RETAIN = { minute: 2 * DAY_MS, hour: 90 * DAY_MS, day: 3 * 366 * DAY_MS };

export interface ServerRuntime {
  store: Store;
  tunnel: TunnelServer;
  /** The shared HTTP/HTTPS ports, when `http` or `https` is configured. */
  http: HttpRouter | undefined;
  /** Certificates from ACME, when `acme.directoryUrl` is set. */
  acme: CertificateManager | undefined;
  admin: AdminServer | undefined;
  /** The admin API's certificate when it serves HTTPS (`admin.tls`); undefined: plain HTTP. */
  adminTls: { fingerprint: string } | undefined;
  metrics: Metrics;
  /** The first admin's generated password, when this start created it: show it once, never log it. */
  firstAdminPassword: string | undefined;
  close(): Promise<void>;
}

/** Where `npm run build:console` puts the web console. */
export const CONSOLE_DIR = join(PROJECT_ROOT, 'console', 'dist');

export async function startServerRuntime(
  config: ServerConfig,
  tls: { cert: string; key: string },
  logger: Logger,
  env: { MUON_ADMIN_PASSWORD?: string | undefined } = {},
  consoleDir: string = CONSOLE_DIR,
  tuning: { acme?: AcmeTuning } = {},
): Promise<ServerRuntime> {
  // Before anything opens: a bad certificate file is a configuration error, not a half-started server.
  const adminTls = config.admin.enabled ? await loadAdminTls(config.admin.tls, tls) : undefined;
  const store = await openStore({ dataDir: config.dataDir, url: config.store.url, log: logger });
  const stops: Array<() => Promise<void>> = [() => store.close()];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  };
  try {
    await applyDeclaredLicenses(store, toLicenseRecords(config));
    const sessions = new SessionRecorder(store, logger);
    await sessions.recover();
    stops.push(() => sessions.close());
    const traffic = new TrafficRecorder(
      (entries, at) =>
        store.traffic.add(
          entries.map((e) => ({ ...e, licenseId: Number(e.licenseId), mappingId: Number(e.mappingId), at })),
        ),
      { intervalMs: config.store.trafficFlushInterval, logger },
    );
    stops.push(() => traffic.close());
    let lastRollUp: Date | undefined;
    const rollUp = setInterval(() => {
      const now = new Date();
      store.traffic
        .rollUp({ now, retain: RETAIN, ...(lastRollUp && { since: lastRollUp }) })
        .then(() => {
          lastRollUp = now;
        })
        .catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'traffic roll-up failed'));
    }, ROLL_UP_MS);
    rollUp.unref();
    stops.push(async () => clearInterval(rollUp));

    let tunnel: TunnelServer | undefined;
    const metrics = new Metrics(
      () => (tunnel?.publicPorts.length ?? 0) + (tunnel?.publicUdpPorts.length ?? 0),
    );
    const settings = toServerSettings(config);
    const observer = combineObservers(metrics, sessions.observer, {
      ...NULL_OBSERVER,
      traffic: traffic.traffic,
    });
    tunnel = new TunnelServer({
      ...settings,
      tls: { ...settings.tls, ...tls },
      directory: new StoreDirectory(store),
      logger,
      observer,
    });
    const server = tunnel;
    stops.push(() => server.close());
    await tunnel.listen();

    const acmeConfig = config.acme?.directoryUrl !== undefined ? config.acme : undefined;
    const challenges = acmeConfig ? new ChallengeStore() : undefined;
    let http: HttpRouter | undefined;
    // The HTTP router and ACME (acme-client and its HTTP stack) load only when configured: together
    // they weigh tens of MB of an idle server's memory (docs/benchmarks.md).
    if (config.http || config.https) {
      const { HttpRouter } = await import('../http/http-router.ts');
      const router = new HttpRouter({
        ...(config.http && { http: config.http }),
        ...(config.https && { https: config.https }),
        directory: new StoreHttpDirectory(store),
        tunnel: server,
        verifyPassword: checkPassword,
        logger,
        observer,
        ...(challenges && { challenges }),
      });
      http = router;
      stops.push(() => router.close());
      await router.listen();
    }
    let acme: CertificateManager | undefined;
    if (acmeConfig?.directoryUrl !== undefined && challenges) {
      const { CertificateManager } = await import('../acme/certificate-manager.ts');
      const manager = new CertificateManager({
        store: new StoreAcme(store),
        directoryUrl: acmeConfig.directoryUrl,
        email: acmeConfig.email,
        renewBeforeDays: acmeConfig.renewBeforeDays,
        caCertificate: acmeConfig.caCertificate && (await readPem(acmeConfig.caCertificate)),
        challenges,
        logger,
        ...(tuning.acme && { tuning: tuning.acme }),
      });
      acme = manager;
      stops.push(() => manager.close());
      manager.start();
    }

    const accounts = storeAccounts(store);
    const firstAdminPassword = await ensureFirstAdmin(accounts, env.MUON_ADMIN_PASSWORD);
    let admin: AdminServer | undefined;
    const generatedPasswords = new Set<string>();
    if (firstAdminPassword) {
      const first = await accounts.findByUsername(FIRST_ADMIN);
      if (first) generatedPasswords.add(first.id);
    }
    if (config.admin.enabled) {
      const deps: Omit<AdminDeps, 'console'> = {
        accounts,
        tokens: new SessionTokens({ idleMs: 30 * 60_000, maxAgeMs: 12 * 3_600_000 }),
        loginFailures: new FailureLimiter({ maxFailures: 10, windowMs: 15 * 60_000 }),
        metrics,
        logger,
        secureCookies: adminTls !== undefined,
        store,
        generatedPasswords,
        metricsToken: config.admin.metricsToken,
        serverInfo: serverInfoOf(server, fingerprintOf(tls.cert)),
        acmeEnabled: acme !== undefined,
      };
      // Built on the first request (admin-server.ts): an idle server neither loads Hono nor
      // compresses the console.
      const load = async () => {
        const [{ createAdminApp }, assets] = await Promise.all([
          import('../admin/app.ts'),
          ConsoleAssets.load(consoleDir),
        ]);
        return createAdminApp({ ...deps, console: assets ?? null });
      };
      admin = new AdminServer(
        load,
        { host: config.admin.host, port: config.admin.port, tls: adminTls },
        logger,
      );
      const adminServer = admin;
      stops.push(() => adminServer.close());
      await admin.listen();
    }
    return {
      store,
      tunnel,
      http,
      acme,
      admin,
      adminTls: adminTls && { fingerprint: adminTls.fingerprint },
      metrics,
      firstAdminPassword,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function readPem(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MuonError(
      'MUON_ERR_CONFIG',
      `acme.caCertificate: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: error },
    );
  }
}

function serverInfoOf(tunnel: TunnelServer, fingerprint: string): () => ServerInfo {
  const version = muonVersion();
  const endpoint = (address: AddressInfo | undefined) =>
    address ? { host: address.address, port: address.port } : null;
  return () => {
    const { tls, plain } = tunnel.addresses;
    return { version, tunnel: endpoint(tls) ?? { host: '', port: 0 }, plain: endpoint(plain), fingerprint };
  };
}
