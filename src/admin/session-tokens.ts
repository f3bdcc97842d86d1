// Login sessions of the admin API: opaque random tokens, kept hashed in memory with an idle
// expiry that each use extends, up to an absolute lifetime. A restart logs everyone out.

import { createHash, randomBytes } from 'node:crypto';

export interface SessionInfo {
  userId: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface SessionTokenOptions {
  idleMs: number;
  maxAgeMs: number;
  now?: () => number;
}

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

export class SessionTokens {
  readonly #sessions = new Map<string, SessionInfo>();
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: SessionTokenOptions) {
    this.#idleMs = options.idleMs;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  /** Starts a session for `userId`; the token is returned once and stored only as a hash. */
  issue(userId: string): string {
    this.#sweep();
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    this.#sessions.set(digest(token), { userId, createdAt: now, lastUsedAt: now });
    return token;
  }

  /** The session of a live token (and extends its idle expiry), or undefined. */
  use(token: string): SessionInfo | undefined {
    const key = digest(token);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (this.#expired(session, now)) {
      this.#sessions.delete(key);
      return undefined;
    }
    session.lastUsedAt = now;
    return session;
  }

  revoke(token: string): void {
    this.#sessions.delete(digest(token));
  }

  /** Ends every session of a user (password change, user disabled or deleted). */
  revokeUser(userId: string): void {
    for (const [key, session] of this.#sessions) if (session.userId === userId) this.#sessions.delete(key);
  }

  get size(): number {
    return this.#sessions.size;
  }

  #expired(session: SessionInfo, now: number): boolean {
    return now - session.lastUsedAt >= this.#idleMs || now - session.createdAt >= this.#maxAgeMs;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, session] of this.#sessions) if (this.#expired(session, now)) this.#sessions.delete(key);
  }
}
