// The admin login log: every attempt to log in to the admin API, successful or not, with the
// name that was tried (also for unknown users) and the address it came from.

import type { Selectable } from 'kysely';
import type { StoreContext } from '../context.ts';
import { type Page, type PageRequest, pageOf } from '../page.ts';
import type { AdminLoginsTable } from '../schema.ts';
import { timeValue, toBool, toDate, toNumber, toNumberOrNull } from '../values.ts';

export interface LoginAttempt {
  id: number;
  /** Null for an unknown user name, or once the user is deleted. */
  userId: number | null;
  username: string;
  remoteAddress: string;
  success: boolean;
  /** Why it failed (a MUON_ERR_… code or a short reason); null on success. */
  reason: string | null;
  at: Date;
}

export interface NewLoginAttempt {
  userId?: number | null;
  username: string;
  remoteAddress: string;
  success: boolean;
  reason?: string | null;
  at?: Date;
}

export interface LoginFilter extends PageRequest {
  userId?: number;
  username?: string;
  success?: boolean;
  from?: Date;
  to?: Date;
}

function toAttempt(row: Selectable<AdminLoginsTable>): LoginAttempt {
  return {
    id: toNumber(row.id),
    userId: toNumberOrNull(row.user_id),
    username: row.username,
    remoteAddress: row.remote_address,
    success: toBool(row.success),
    reason: row.reason,
    at: toDate(row.created_at),
  };
}

export class LoginLogRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async record(attempt: NewLoginAttempt): Promise<LoginAttempt> {
    const at = timeValue(attempt.at ?? this.#ctx.now());
    return this.#ctx.write(async (db) =>
      toAttempt(
        await db
          .insertInto('admin_logins')
          .values({
            user_id: attempt.userId ?? null,
            username: attempt.username,
            remote_address: attempt.remoteAddress,
            success: attempt.success,
            reason: attempt.reason ?? null,
            created_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  /** Newest first. */
  async list(filter: LoginFilter = {}): Promise<Page<LoginAttempt>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('admin_logins');
      if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
      if (filter.username !== undefined) query = query.where('username', '=', filter.username);
      if (filter.success !== undefined) query = query.where('success', '=', filter.success);
      if (filter.from) query = query.where('created_at', '>=', timeValue(filter.from));
      if (filter.to) query = query.where('created_at', '<', timeValue(filter.to));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) =>
          query
            .selectAll()
            .orderBy('created_at', 'desc')
            .orderBy('id', 'desc')
            .limit(limit)
            .offset(offset)
            .execute(),
        toAttempt,
      );
    });
  }

  /** Failed attempts for a name or from an address since a time (for lockouts across restarts). */
  async countFailures(options: { since: Date; username?: string; remoteAddress?: string }): Promise<number> {
    const row = await this.#ctx.read((db) => {
      let query = db
        .selectFrom('admin_logins')
        .where('success', '=', false)
        .where('created_at', '>=', timeValue(options.since));
      if (options.username !== undefined) query = query.where('username', '=', options.username);
      if (options.remoteAddress !== undefined)
        query = query.where('remote_address', '=', options.remoteAddress);
      return query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    });
    return row ? toNumber(row.n) : 0;
  }

  async prune(before: Date): Promise<number> {
    return this.#ctx.write(async (db) => {
      const result = await db
        .deleteFrom('admin_logins')
        .where('created_at', '<', timeValue(before))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}
