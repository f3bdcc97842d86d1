// The port pool: the public ports an admin allows mappings to use, as ranges (a single port is a
// range of one). Ranges never overlap. Each range belongs to at most one port group; who may use
// a group is in port-groups.ts.

import type { Kysely, Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import { isForeignKeyViolation } from '../db-errors.ts';
import { type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, PortPoolTable } from '../schema.ts';
import { timeValue, toDate, toNumber, toNumberOrNull } from '../values.ts';

export interface PoolRange {
  id: number;
  portStart: number;
  /** Inclusive; equal to portStart for a single port. */
  portEnd: number;
  groupId: number | null;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewPoolRange {
  portStart: number;
  /** Default: portStart (a single port). */
  portEnd?: number;
  groupId?: number | null;
  description?: string | null;
}

export interface PoolFilter extends PageRequest {
  /** A group id, or null for ranges in no group. */
  groupId?: number | null;
  /** Ranges that contain this port. */
  port?: number;
}

function toRange(row: Selectable<PortPoolTable>): PoolRange {
  return {
    id: toNumber(row.id),
    portStart: toNumber(row.port_start),
    portEnd: toNumber(row.port_end),
    groupId: toNumberOrNull(row.group_id),
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function checkRange(start: number, end: number): void {
  for (const [field, port] of [
    ['portStart', start],
    ['portEnd', end],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new MuonError('MUON_ERR_INVALID_INPUT', `${field}: must be a port from 1 to 65535`);
    }
  }
  if (end < start) throw new MuonError('MUON_ERR_INVALID_INPUT', 'portEnd: must not be below portStart');
}

function rangeText(start: number, end: number): string {
  return start === end ? `port ${start}` : `ports ${start}–${end}`;
}

/** Refuses a range that overlaps another (the caller holds the pool lock). */
async function checkFree(db: Kysely<Database>, start: number, end: number, except?: number): Promise<void> {
  let query = db
    .selectFrom('port_pool')
    .select(['port_start', 'port_end'])
    .where('port_start', '<=', end)
    .where('port_end', '>=', start);
  if (except !== undefined) query = query.where('id', '!=', except);
  const clash = await query.orderBy('port_start').executeTakeFirst();
  if (clash) {
    throw new MuonError(
      'MUON_ERR_CONFLICT',
      `${rangeText(start, end)} overlap the pool's ${rangeText(toNumber(clash.port_start), toNumber(clash.port_end))}`,
    );
  }
}

function noSuchGroup(error: unknown): unknown {
  if (!isForeignKeyViolation(error)) return error;
  return new MuonError('MUON_ERR_NOT_FOUND', 'groupId: no such port group', { cause: error });
}

export class PortPoolRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewPoolRange): Promise<PoolRange> {
    const start = input.portStart;
    const end = input.portEnd ?? start;
    checkRange(start, end);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      await this.#ctx.lock(db, 'port_pool');
      await checkFree(db, start, end);
      try {
        const row = await db
          .insertInto('port_pool')
          .values({
            port_start: start,
            port_end: end,
            group_id: input.groupId ?? null,
            description: input.description ?? null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toRange(row);
      } catch (error) {
        throw noSuchGroup(error);
      }
    });
  }

  async get(id: number): Promise<PoolRange | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('port_pool').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row && toRange(row);
  }

  /** The range that contains `port`, if the pool has it. */
  async find(port: number): Promise<PoolRange | undefined> {
    const row = await this.#ctx.read((db) =>
      db
        .selectFrom('port_pool')
        .selectAll()
        .where('port_start', '<=', port)
        .where('port_end', '>=', port)
        .executeTakeFirst(),
    );
    return row && toRange(row);
  }

  async list(filter: PoolFilter = {}): Promise<Page<PoolRange>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('port_pool');
      if (filter.groupId === null) query = query.where('group_id', 'is', null);
      else if (filter.groupId !== undefined) query = query.where('group_id', '=', filter.groupId);
      if (filter.port !== undefined) {
        query = query.where('port_start', '<=', filter.port).where('port_end', '>=', filter.port);
      }
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('port_start').limit(limit).offset(offset).execute(),
        toRange,
      );
    });
  }

  async update(id: number, patch: Partial<NewPoolRange>): Promise<PoolRange> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      await this.#ctx.lock(db, 'port_pool');
      const before = await db.selectFrom('port_pool').selectAll().where('id', '=', id).executeTakeFirst();
      if (!before) throw new MuonError('MUON_ERR_NOT_FOUND', `pool range ${id} does not exist`);
      const start = patch.portStart ?? toNumber(before.port_start);
      const end = patch.portEnd ?? toNumber(before.port_end);
      checkRange(start, end);
      await checkFree(db, start, end, id);
      try {
        const row = await db
          .updateTable('port_pool')
          .set({
            port_start: start,
            port_end: end,
            ...(patch.groupId !== undefined && { group_id: patch.groupId }),
            ...(patch.description !== undefined && { description: patch.description }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return toRange(row);
      } catch (error) {
        throw noSuchGroup(error);
      }
    });
  }

  /** Removes the range from the pool. Mappings already on its ports stay (they are not re-checked). */
  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db) => {
      const result = await db.deleteFrom('port_pool').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MuonError('MUON_ERR_NOT_FOUND', `pool range ${id} does not exist`);
    });
  }
}
