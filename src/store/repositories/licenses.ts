// Licenses: a client's credential, owned by a user. The secret key is stored as is (the server
// needs it for the challenge–response handshake); key_id, a hash prefix of it, finds it at login.
// Every change except the online flag is announced to the tunnel core.

import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import { keyIdOf } from '../../protocol/handshake.ts';
import type { StoreContext } from '../context.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import { checkName, containsText, type Page, type PageRequest, pageOf } from '../page.ts';
import type { LicensesTable } from '../schema.ts';
import { timeValue, toBool, toDate, toDateOrNull, toNumber, toNumberOrNull } from '../values.ts';

export interface License {
  id: number;
  ownerId: number;
  name: string;
  /** The secret key: show it to its owner and admins only, never log it. */
  key: string;
  /** Hex of keyIdOf(key). */
  keyId: string;
  enabled: boolean;
  /** Bytes per second from visitors towards the target; null = unlimited. */
  uploadLimit: number | null;
  /** Bytes per second from the target back to visitors; null = unlimited. */
  downloadLimit: number | null;
  /** Visitor connections open at once over all the license's mappings; null = unlimited. */
  maxConnections: number | null;
  online: boolean;
  lastSeenAt: Date | null;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewLicense {
  ownerId: number;
  name: string;
  /** Default: 32 random bytes, base64url (as `muon keygen`). */
  key?: string;
  enabled?: boolean;
  uploadLimit?: number | null;
  downloadLimit?: number | null;
  maxConnections?: number | null;
  description?: string | null;
}

export interface LicensePatch {
  name?: string;
  enabled?: boolean;
  uploadLimit?: number | null;
  downloadLimit?: number | null;
  maxConnections?: number | null;
  description?: string | null;
}

export interface LicenseFilter extends PageRequest {
  ownerId?: number;
  enabled?: boolean;
  online?: boolean;
  /** Part of the license name, any case. */
  search?: string;
}

type Row = Selectable<LicensesTable>;

export function newKey(): string {
  return randomBytes(32).toString('base64url');
}

export function keyIdHex(key: string): string {
  return keyIdOf(key).toString('hex');
}

export function toLicense(row: Row): License {
  return {
    id: toNumber(row.id),
    ownerId: toNumber(row.owner_id),
    name: row.name,
    key: row.key,
    keyId: row.key_id,
    enabled: toBool(row.enabled),
    uploadLimit: toNumberOrNull(row.upload_limit),
    downloadLimit: toNumberOrNull(row.download_limit),
    maxConnections: toNumberOrNull(row.max_connections),
    online: toBool(row.online),
    lastSeenAt: toDateOrNull(row.last_seen_at),
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function checkKey(key: string): string {
  if (key.length < 16) throw new MuonError('MUON_ERR_INVALID_INPUT', 'key: must be at least 16 characters');
  return key;
}

function checkLimit(field: string, value: number | null | undefined): void {
  if (value == null) return;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MuonError(
      'MUON_ERR_INVALID_INPUT',
      `${field}: must be a positive integer (bytes per second) or null`,
    );
  }
}

/** Shared with mappings: a connection count that fits the integer column. */
export function checkMaxConnections(value: number | null | undefined): void {
  if (value == null) return;
  if (!Number.isInteger(value) || value < 1 || value > MAX_CONNECTIONS) {
    throw new MuonError(
      'MUON_ERR_INVALID_INPUT',
      `maxConnections: must be an integer from 1 to ${MAX_CONNECTIONS}, or null`,
    );
  }
}

export const MAX_CONNECTIONS = 2 ** 31 - 1;

function translateWrite(error: unknown, name: string | undefined): unknown {
  const unique = uniqueViolation(error);
  if (unique?.includes('key_id')) {
    return new MuonError('MUON_ERR_CONFLICT', 'key: another license already uses this key', { cause: error });
  }
  if (unique !== undefined) {
    return new MuonError('MUON_ERR_CONFLICT', `name: the owner already has a license named "${name}"`, {
      cause: error,
    });
  }
  if (isForeignKeyViolation(error)) {
    return new MuonError('MUON_ERR_NOT_FOUND', 'ownerId: no such user', { cause: error });
  }
  return error;
}

export class LicenseRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewLicense): Promise<License> {
    checkLimit('uploadLimit', input.uploadLimit);
    checkLimit('downloadLimit', input.downloadLimit);
    checkMaxConnections(input.maxConnections);
    const key = checkKey(input.key ?? newKey());
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      try {
        const row = await db
          .insertInto('licenses')
          .values({
            owner_id: input.ownerId,
            name: checkName('name', input.name),
            key,
            key_id: keyIdHex(key),
            enabled: input.enabled ?? true,
            upload_limit: input.uploadLimit ?? null,
            download_limit: input.downloadLimit ?? null,
            max_connections: input.maxConnections ?? null,
            online: false,
            description: input.description ?? null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        changed(toNumber(row.id));
        return toLicense(row);
      } catch (error) {
        throw translateWrite(error, input.name);
      }
    });
  }

  async get(id: number): Promise<License | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('licenses').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row && toLicense(row);
  }

  /** By hex key id (see protocol/handshake.ts keyIdOf). */
  async getByKeyId(keyId: string): Promise<License | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('licenses').selectAll().where('key_id', '=', keyId.toLowerCase()).executeTakeFirst(),
    );
    return row && toLicense(row);
  }

  async getByName(ownerId: number, name: string): Promise<License | undefined> {
    const row = await this.#ctx.read((db) =>
      db
        .selectFrom('licenses')
        .selectAll()
        .where('owner_id', '=', ownerId)
        .where('name', '=', name)
        .executeTakeFirst(),
    );
    return row && toLicense(row);
  }

  /** Every license of one user, unpaginated, by id. */
  async listByOwner(ownerId: number): Promise<License[]> {
    const rows = await this.#ctx.read((db) =>
      db.selectFrom('licenses').selectAll().where('owner_id', '=', ownerId).orderBy('id').execute(),
    );
    return rows.map(toLicense);
  }

  async list(filter: LicenseFilter = {}): Promise<Page<License>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('licenses');
      if (filter.ownerId !== undefined) query = query.where('owner_id', '=', filter.ownerId);
      if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
      if (filter.online !== undefined) query = query.where('online', '=', filter.online);
      if (filter.search) query = query.where(containsText('name', filter.search));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('id').limit(limit).offset(offset).execute(),
        toLicense,
      );
    });
  }

  async update(id: number, patch: LicensePatch): Promise<License> {
    checkLimit('uploadLimit', patch.uploadLimit);
    checkLimit('downloadLimit', patch.downloadLimit);
    checkMaxConnections(patch.maxConnections);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      let row: Row | undefined;
      try {
        row = await db
          .updateTable('licenses')
          .set({
            ...(patch.name !== undefined && { name: checkName('name', patch.name) }),
            ...(patch.enabled !== undefined && { enabled: patch.enabled }),
            ...(patch.uploadLimit !== undefined && { upload_limit: patch.uploadLimit }),
            ...(patch.downloadLimit !== undefined && { download_limit: patch.downloadLimit }),
            ...(patch.maxConnections !== undefined && { max_connections: patch.maxConnections }),
            ...(patch.description !== undefined && { description: patch.description }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        throw translateWrite(error, patch.name);
      }
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `license ${id} does not exist`);
      changed(id);
      return toLicense(row);
    });
  }

  /** Replaces the key (default: a new random one). A client still using the old one is disconnected. */
  async resetKey(id: number, key: string = newKey()): Promise<License> {
    checkKey(key);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      let row: Row | undefined;
      try {
        row = await db
          .updateTable('licenses')
          .set({ key, key_id: keyIdHex(key), updated_at: now })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        throw translateWrite(error, undefined);
      }
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `license ${id} does not exist`);
      changed(id);
      return toLicense(row);
    });
  }

  /** Deletes the license and its mappings; its traffic statistics go with it. */
  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db, changed) => {
      const result = await db.deleteFrom('licenses').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MuonError('MUON_ERR_NOT_FOUND', `license ${id} does not exist`);
      changed(id);
    });
  }

  /**
   * Records that the license's client connected or went away. Not announced: the tunnel core is
   * the one that reports it. `updated_at` is left alone (it tracks configuration changes).
   */
  async setOnline(id: number, online: boolean, at: Date = this.#ctx.now()): Promise<void> {
    await this.#ctx.write(async (db) => {
      await db
        .updateTable('licenses')
        .set({ online, last_seen_at: timeValue(at) })
        .where('id', '=', id)
        .execute();
    });
  }

  /** At server start: nothing is online until its client connects again. */
  async markAllOffline(): Promise<number> {
    return this.#ctx.write(async (db) => {
      const result = await db
        .updateTable('licenses')
        .set({ online: false })
        .where('online', '=', true)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    });
  }
}
