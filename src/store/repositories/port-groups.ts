// Port groups: named sets of pool ranges, assigned to everyone (global), to one user, or to one
// license. A license may use a pool port when the port's group is assigned globally, to the
// license's owner, or to the license itself.

import type { Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import { checkName, containsText, type Page, type PageRequest, pageOf } from '../page.ts';
import type { AssignmentScope, PortGroupAssignmentsTable, PortGroupsTable } from '../schema.ts';
import { timeValue, toDate, toNumber, toNumberOrNull } from '../values.ts';

export interface PortGroup {
  id: number;
  name: string;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewPortGroup {
  name: string;
  description?: string | null;
}

export type AssignmentTarget =
  | { scope: 'global' }
  | { scope: 'user'; userId: number }
  | { scope: 'license'; licenseId: number };

export interface Assignment {
  id: number;
  groupId: number;
  scope: AssignmentScope;
  userId: number | null;
  licenseId: number | null;
  createdAt: Date;
}

export interface AssignmentFilter {
  groupId?: number;
  userId?: number;
  licenseId?: number;
  scope?: AssignmentScope;
}

export interface AllowedRange {
  portStart: number;
  portEnd: number;
  groupId: number;
}

function toGroup(row: Selectable<PortGroupsTable>): PortGroup {
  return {
    id: toNumber(row.id),
    name: row.name,
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function toAssignment(row: Selectable<PortGroupAssignmentsTable>): Assignment {
  return {
    id: toNumber(row.id),
    groupId: toNumber(row.group_id),
    scope: row.scope,
    userId: toNumberOrNull(row.user_id),
    licenseId: toNumberOrNull(row.license_id),
    createdAt: toDate(row.created_at),
  };
}

function nameTaken(error: unknown, name: string | undefined): unknown {
  if (uniqueViolation(error) === undefined) return error;
  return new MuonError('MUON_ERR_CONFLICT', `name: a port group named "${name}" exists`, { cause: error });
}

export class PortGroupRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewPortGroup): Promise<PortGroup> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      try {
        const row = await db
          .insertInto('port_groups')
          .values({
            name: checkName('name', input.name),
            description: input.description ?? null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toGroup(row);
      } catch (error) {
        throw nameTaken(error, input.name);
      }
    });
  }

  async get(id: number): Promise<PortGroup | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('port_groups').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row && toGroup(row);
  }

  async list(filter: PageRequest & { search?: string } = {}): Promise<Page<PortGroup>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('port_groups');
      if (filter.search) query = query.where(containsText('name', filter.search));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('id').limit(limit).offset(offset).execute(),
        toGroup,
      );
    });
  }

  async update(id: number, patch: Partial<NewPortGroup>): Promise<PortGroup> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      let row: Selectable<PortGroupsTable> | undefined;
      try {
        row = await db
          .updateTable('port_groups')
          .set({
            ...(patch.name !== undefined && { name: checkName('name', patch.name) }),
            ...(patch.description !== undefined && { description: patch.description }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        throw nameTaken(error, patch.name);
      }
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `port group ${id} does not exist`);
      return toGroup(row);
    });
  }

  /** Deletes the group and its assignments; its pool ranges stay in the pool, in no group. */
  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db) => {
      const result = await db.deleteFrom('port_groups').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n)
        throw new MuonError('MUON_ERR_NOT_FOUND', `port group ${id} does not exist`);
    });
  }

  async assign(groupId: number, target: AssignmentTarget): Promise<Assignment> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      try {
        const row = await db
          .insertInto('port_group_assignments')
          .values({
            group_id: groupId,
            scope: target.scope,
            user_id: target.scope === 'user' ? target.userId : null,
            license_id: target.scope === 'license' ? target.licenseId : null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toAssignment(row);
      } catch (error) {
        if (uniqueViolation(error) !== undefined) {
          throw new MuonError(
            'MUON_ERR_CONFLICT',
            `port group ${groupId} is already assigned to that ${target.scope === 'global' ? 'scope' : target.scope}`,
            { cause: error },
          );
        }
        if (isForeignKeyViolation(error)) {
          throw new MuonError('MUON_ERR_NOT_FOUND', 'the port group, user or license does not exist', {
            cause: error,
          });
        }
        throw error;
      }
    });
  }

  async unassign(assignmentId: number): Promise<void> {
    await this.#ctx.write(async (db) => {
      const result = await db
        .deleteFrom('port_group_assignments')
        .where('id', '=', assignmentId)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) {
        throw new MuonError('MUON_ERR_NOT_FOUND', `assignment ${assignmentId} does not exist`);
      }
    });
  }

  async assignments(filter: AssignmentFilter = {}): Promise<Assignment[]> {
    const rows = await this.#ctx.read((db) => {
      let query = db.selectFrom('port_group_assignments').selectAll();
      if (filter.groupId !== undefined) query = query.where('group_id', '=', filter.groupId);
      if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
      if (filter.licenseId !== undefined) query = query.where('license_id', '=', filter.licenseId);
      if (filter.scope !== undefined) query = query.where('scope', '=', filter.scope);
      return query.orderBy('id').execute();
    });
    return rows.map(toAssignment);
  }

  /** The pool ranges a license may use, by port. */
  async allowedRanges(licenseId: number): Promise<AllowedRange[]> {
    const rows = await this.#ctx.read((db) =>
      db
        .selectFrom('port_pool')
        .innerJoin('port_group_assignments as a', 'a.group_id', 'port_pool.group_id')
        .select(['port_pool.port_start', 'port_pool.port_end', 'port_pool.group_id'])
        .distinct()
        .where((eb) =>
          eb.or([
            eb('a.scope', '=', 'global'),
            eb('a.license_id', '=', licenseId),
            eb(
              'a.user_id',
              '=',
              eb.selectFrom('licenses').select('licenses.owner_id').where('licenses.id', '=', licenseId),
            ),
          ]),
        )
        .orderBy('port_pool.port_start')
        .execute(),
    );
    return rows.map((r) => ({
      portStart: toNumber(r.port_start),
      portEnd: toNumber(r.port_end),
      groupId: toNumber(r.group_id ?? 0),
    }));
  }

  async isPortAllowed(licenseId: number, port: number): Promise<boolean> {
    const ranges = await this.allowedRanges(licenseId);
    return ranges.some((r) => r.portStart <= port && port <= r.portEnd);
  }
}
