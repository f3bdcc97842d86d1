// Checks a request's basic-auth credentials against a mapping's user name and argon2id hash. The
// user name is compared in constant time and the hash is verified even when the name is wrong
// (no timing oracle); a success is remembered for a while (keyed by a digest of the header and
// the stored hash, so a password change forgets it) so that a browser's many requests cost one
// verification; an address that keeps failing is refused for the rest of the minute.

import { createHash, timingSafeEqual } from 'node:crypto';
import { FailureLimiter } from '../net/failure-limiter.ts';
import type { BasicAuthRecord } from './routes.ts';

export type AuthVerdict = 'ok' | 'missing' | 'wrong' | 'limited';

export interface BasicAuthOptions {
  /** Constant-time check of `password` against an argon2id `hash` (admin/passwords.ts). */
  verify: (hash: string, password: string) => Promise<boolean>;
  /** Wrong credentials one address may send per minute before it is refused (429). */
  maxFailuresPerMinute?: number;
  /** How long a success is remembered. */
  rememberMs?: number;
  now?: () => number;
}

const MAX_REMEMBERED = 10_000;

function digest(...parts: string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest();
}

/** user and password from `Basic base64(user:password)`, or undefined. */
function credentialsOf(header: string | undefined): { username: string; password: string } | undefined {
  const match = header === undefined ? null : /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!match) return undefined;
  const text = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class BasicAuth {
  readonly #verify: BasicAuthOptions['verify'];
  readonly #rememberMs: number;
  readonly #now: () => number;
  readonly #failures: FailureLimiter;
  /** Digest of (mapping, stored hash, header) → when the success expires. */
  readonly #remembered = new Map<string, number>();
  /** Checks under way, shared by concurrent requests with the same credentials. */
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(options: BasicAuthOptions) {
    this.#verify = options.verify;
    this.#rememberMs = options.rememberMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#failures = new FailureLimiter({
      maxFailures: options.maxFailuresPerMinute ?? 10,
      windowMs: 60_000,
      now: this.#now,
    });
  }

  /** The verdict on one request's Authorization header; a promise when a hash must be verified. */
  check(
    mappingId: string,
    expected: BasicAuthRecord,
    header: string | undefined,
    remote: string,
  ): AuthVerdict | Promise<AuthVerdict> {
    const credentials = credentialsOf(header);
    if (!credentials) return 'missing';
    const key = digest(mappingId, expected.passwordHash, header as string).toString('hex');
    const until = this.#remembered.get(key);
    if (until !== undefined && until > this.#now()) return 'ok';
    if (this.#failures.blocked(remote)) return 'limited';
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#verifyOnce(expected, credentials.username, credentials.password).finally(() =>
        this.#pending.delete(key),
      );
      this.#pending.set(key, pending);
    }
    return pending.then((ok) => {
      if (!ok) {
        this.#failures.fail(remote);
        return 'wrong';
      }
      this.#remember(key);
      return 'ok';
    });
  }

  async #verifyOnce(expected: BasicAuthRecord, username: string, password: string): Promise<boolean> {
    const nameOk = timingSafeEqual(digest(username), digest(expected.username));
    const passwordOk = await this.#verify(expected.passwordHash, password).catch(() => false);
    return nameOk && passwordOk;
  }

  #remember(key: string): void {
    this.#remembered.delete(key);
    if (this.#remembered.size >= MAX_REMEMBERED) {
      const oldest = this.#remembered.keys().next().value;
      if (oldest !== undefined) this.#remembered.delete(oldest);
    }
    this.#remembered.set(key, this.#now() + this.#rememberMs);
  }
}
