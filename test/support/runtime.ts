// The whole server as `muon server` runs it (store, tunnel, admin API) on loopback ports, from a
// YAML file in a temp directory, with helpers for clients and admin API calls.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { AcmeTuning } from '../../src/acme/certificate-manager.ts';
import { CONSOLE_DIR, startServerRuntime } from '../../src/cli/server-runtime.ts';
import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import { loadServerConfig } from '../../src/config/server-config.ts';
import { type Logger, silentLogger } from '../../src/log.ts';
import { loadOrCreateTlsIdentity } from '../../src/net/tls-identity.ts';
import { freePort } from './net.ts';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

/**
 * Starts a runtime; `extraYaml` lines are appended to the config (e.g. `licenses:`). The first
 * admin gets ADMIN_PASSWORD, or with `generatedPassword` one the server makes (`adminPassword`).
 * `logger` receives the server's log (silent by default); `acme` tunes the certificate manager.
 */
export async function startRuntime(
  t: TestContext,
  extraYaml: string[] = [],
  options: { generatedPassword?: boolean; logger?: Logger; acme?: AcmeTuning } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), 'muon-runtime-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [tunnelPort, plainPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const file = join(dir, 'muon.yaml');
  await writeFile(
    file,
    [
      `dataDir: ${join(dir, 'data')}`,
      `tunnel: { host: 127.0.0.1, port: ${tunnelPort}, plainPort: ${plainPort} }`,
      'publicHost: 127.0.0.1',
      `admin: { host: 127.0.0.1, port: ${adminPort} }`,
      ...extraYaml,
    ].join('\n'),
  );
  const config = await loadServerConfig({ file, env: {} });
  const identity = await loadOrCreateTlsIdentity({ dataDir: config.dataDir });
  const runtime = await startServerRuntime(
    config,
    identity,
    options.logger ?? silentLogger,
    options.generatedPassword ? {} : { MUON_ADMIN_PASSWORD: ADMIN_PASSWORD },
    CONSOLE_DIR,
    options.acme ? { acme: options.acme } : {},
  );
  const adminPassword = runtime.firstAdminPassword ?? ADMIN_PASSWORD;
  t.after(() => runtime.close());
  const base = `http://127.0.0.1:${adminPort}`;

  /** A started client (plain tunnel) with `key`, closed after the test. */
  const client = (key: string) => {
    const c = new TunnelClient({
      ...CLIENT_DEFAULTS,
      server: { host: '127.0.0.1', port: plainPort },
      tls: false,
      licenseKey: key,
      logger: silentLogger,
      minIdleChannels: 1,
    });
    t.after(() => c.close());
    c.start();
    return c;
  };

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };

  const login = async (username: string, password: string): Promise<string> => {
    const response = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    return ((await response.json()) as { token: string }).token;
  };

  return { runtime, config, client, call, login, base, adminPassword, fingerprint: identity.fingerprint };
}
