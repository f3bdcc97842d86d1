// Users: admins manage everything, regular users their own licenses. A user's `enabled` gates all
// of their licenses, so changing or deleting a user announces every license they own.

import type { Kysely, Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import { uniqueViolation } from '../db-errors.ts';
import { checkName, containsText, type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, Role, UsersTable } from '../schema.ts';
import { timeValue, toBool, toDate, toNumber } from '../values.ts';

export interface User {
  id: number;
  username: string;
  role: Role;
  enabled: boolean;
  /** False for users that cannot log in (no password set, like the built-in `config` user). */
  canLogIn: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  username: string;
  /** An argon2id hash (admin/passwords.ts), or null for a user that cannot log in. */
  passwordHash: string | null;
  role?: Role;
  enabled?: boolean;
}

export interface UserPatch {
  username?: string;
  passwordHash?: string | null;
  role?: Role;
  enabled?: boolean;
}

export interface UserFilter extends PageRequest {
  role?: Role;
  enabled?: boolean;
  /** Part of the user name, any case. */
  search?: string;
}

type Row = Selectable<UsersTable>;

function toUser(row: Row): User {
  return {
    id: toNumber(row.id),
    username: row.username,
    role: row.role,
    enabled: toBool(row.enabled),
    canLogIn: row.password_hash !== null,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function conflict(error: unknown, username: string | undefined): unknown {
  if (uniqueViolation(error) === undefined) return error;
  return new MuonError('MUON_ERR_CONFLICT', `username: "${username}" is already taken`, { cause: error });
}

export async function licenseIdsOfUser(db: Kysely<Database>, userId: number): Promise<number[]> {
  const rows = await db.selectFrom('licenses').select('id').where('owner_id', '=', userId).execute();
  return rows.map((r) => toNumber(r.id));
}

export class UserRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewUser): Promise<User> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      try {
        const row = await db
          .insertInto('users')
          .values({
            username: checkName('username', input.username),
            password_hash: input.passwordHash,
            role: input.role ?? 'user',
            enabled: input.enabled ?? true,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toUser(row);
      } catch (error) {
        throw conflict(error, input.username);
      }
    });
  }

  async get(id: number): Promise<User | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row && toUser(row);
  }

  /** Case-insensitive, as names are unique regardless of case. */
  async getByUsername(username: string): Promise<User | undefined> {
    return (await this.findForLogin(username))?.user;
  }

  /** The user and their password hash, for checking a login. Keep the hash out of responses. */
  async findForLogin(username: string): Promise<{ user: User; passwordHash: string | null } | undefined> {
    const row = await this.#ctx.read((db) =>
      db
        .selectFrom('users')
        .selectAll()
        .where((eb) => eb(eb.fn('lower', ['username']), '=', username.toLowerCase()))
        .executeTakeFirst(),
    );
    return row && { user: toUser(row), passwordHash: row.password_hash };
  }

  async list(filter: UserFilter = {}): Promise<Page<User>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('users');
      if (filter.role !== undefined) query = query.where('role', '=', filter.role);
      if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
      if (filter.search) query = query.where(containsText('username', filter.search));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('id').limit(limit).offset(offset).execute(),
        toUser,
      );
    });
  }

  /** Enabled admins (or all admins): zero at first start means one must be created. */
  async countAdmins(options: { enabled?: boolean } = {}): Promise<number> {
    const row = await this.#ctx.read((db) => {
      let query = db.selectFrom('users').where('role', '=', 'admin');
      if (options.enabled !== undefined) query = query.where('enabled', '=', options.enabled);
      return query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    });
    return row ? toNumber(row.n) : 0;
  }

  async update(id: number, patch: UserPatch): Promise<User> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const before = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!before) throw new MuonError('MUON_ERR_NOT_FOUND', `user ${id} does not exist`);
      let row: Row;
      try {
        row = await db
          .updateTable('users')
          .set({
            ...(patch.username !== undefined && { username: checkName('username', patch.username) }),
            ...(patch.passwordHash !== undefined && { password_hash: patch.passwordHash }),
            ...(patch.role !== undefined && { role: patch.role }),
            ...(patch.enabled !== undefined && { enabled: patch.enabled }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (error) {
        throw conflict(error, patch.username);
      }
      if (toBool(before.enabled) !== toBool(row.enabled)) {
        for (const licenseId of await licenseIdsOfUser(db, id)) changed(licenseId);
      }
      return toUser(row);
    });
  }

  /** Deletes the user with their licenses, mappings and port group assignments. */
  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db, changed) => {
      const licenseIds = await licenseIdsOfUser(db, id);
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MuonError('MUON_ERR_NOT_FOUND', `user ${id} does not exist`);
      for (const licenseId of licenseIds) changed(licenseId);
    });
  }
}
