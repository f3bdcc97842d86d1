// An admin API on 127.0.0.1:0 with in-memory accounts, for tests of the HTTP surface.

import type { TestContext } from 'node:test';
import type { Account, Accounts } from '../../src/admin/accounts.ts';
import { AdminServer } from '../../src/admin/admin-server.ts';
import { createAdminApp } from '../../src/admin/app.ts';
import type { ConsoleAssets } from '../../src/admin/console-assets.ts';
import { Metrics } from '../../src/admin/metrics.ts';
import { SessionTokens } from '../../src/admin/session-tokens.ts';
import { FailureLimiter } from '../../src/net/failure-limiter.ts';
import { LogCapture } from './stack.ts';

export class MemoryAccounts implements Accounts {
  readonly #accounts = new Map<string, Account>();
  #next = 1;

  async findByUsername(username: string): Promise<Account | undefined> {
    return [...this.#accounts.values()].find((a) => a.username === username);
  }
  async get(id: string): Promise<Account | undefined> {
    return this.#accounts.get(id);
  }
  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    const account = this.#accounts.get(id);
    if (account) account.passwordHash = passwordHash;
  }
  async countAdmins(): Promise<number> {
    return [...this.#accounts.values()].filter((a) => a.role === 'admin').length;
  }
  async createAdmin(username: string, passwordHash: string): Promise<Account> {
    const account: Account = {
      id: String(this.#next++),
      username,
      role: 'admin',
      enabled: true,
      passwordHash,
    };
    this.#accounts.set(account.id, account);
    return account;
  }
}

export interface AdminHarness {
  url: string;
  accounts: MemoryAccounts;
  log: LogCapture;
  tokens: SessionTokens;
  /** fetch() against the admin server with a JSON body and optional bearer token. */
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    // biome-ignore lint/suspicious/noExplicitAny: tests read response fields one by one
  ): Promise<{ status: number; json: any; headers: Headers }>;
}

export async function startAdmin(
  t: TestContext,
  options: { maxLoginFailures?: number; console?: ConsoleAssets | null; metricsToken?: string } = {},
): Promise<AdminHarness> {
  const accounts = new MemoryAccounts();
  const log = new LogCapture();
  const tokens = new SessionTokens({ idleMs: 60_000, maxAgeMs: 3_600_000 });
  const app = createAdminApp({
    accounts,
    tokens,
    loginFailures: new FailureLimiter({ maxFailures: options.maxLoginFailures ?? 5, windowMs: 60_000 }),
    metrics: new Metrics(() => 0),
    logger: log.logger,
    secureCookies: false,
    ...(options.console !== undefined && { console: options.console }),
    metricsToken: options.metricsToken,
  });
  const server = new AdminServer(async () => app, { host: '127.0.0.1', port: 0 });
  await server.listen();
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address?.port}`;
  return {
    url,
    accounts,
    log,
    tokens,
    async call(method, path, body, token) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(url + path, {
        method,
        headers,
        ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        json: text ? JSON.parse(text) : undefined,
        headers: response.headers,
      };
    },
  };
}
