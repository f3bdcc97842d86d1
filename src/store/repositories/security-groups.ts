// Security groups: named, ordered lists of allow/deny rules on visitor addresses (CIDR, IPv4 and
// IPv6) that mappings refer to, with a default action for visitors no rule matches. Rules are
// evaluated by ascending priority, then id; a group in use by a mapping cannot be deleted.
// Changes to rules or the default action are announced for the licenses using the group.

import type { Kysely, Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import { normalizeCidr } from '../cidr.ts';
import type { Changed, StoreContext } from '../context.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import { checkName, containsText, type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, RuleAction, SecurityGroupRulesTable, SecurityGroupsTable } from '../schema.ts';
import { timeValue, toDate, toNumber } from '../values.ts';

export interface SecurityGroup {
  id: number;
  name: string;
  description: string | null;
  /** What a visitor no rule matches gets. */
  defaultAction: RuleAction;
  createdAt: Date;
  updatedAt: Date;
}

export interface SecurityRule {
  id: number;
  groupId: number;
  action: RuleAction;
  /** Canonical CIDR: "10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32". */
  cidr: string;
  /** Lower runs first. */
  priority: number;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewSecurityGroup {
  name: string;
  description?: string | null;
  /** Default: allow. */
  defaultAction?: RuleAction;
}

export interface NewSecurityRule {
  action: RuleAction;
  cidr: string;
  priority: number;
  description?: string | null;
}

export interface SecurityGroupFilter extends PageRequest {
  search?: string;
}

function toGroup(row: Selectable<SecurityGroupsTable>): SecurityGroup {
  return {
    id: toNumber(row.id),
    name: row.name,
    description: row.description,
    defaultAction: row.default_action,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function checkAction(field: string, action: RuleAction): RuleAction {
  if (action !== 'allow' && action !== 'deny') {
    throw new MuonError('MUON_ERR_INVALID_INPUT', `${field}: must be allow or deny`);
  }
  return action;
}

function toRule(row: Selectable<SecurityGroupRulesTable>): SecurityRule {
  return {
    id: toNumber(row.id),
    groupId: toNumber(row.group_id),
    action: row.action,
    cidr: row.cidr,
    priority: toNumber(row.priority),
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function checkRule(rule: NewSecurityRule): NewSecurityRule {
  checkAction('action', rule.action);
  if (!Number.isInteger(rule.priority) || Math.abs(rule.priority) > 2 ** 31 - 1) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'priority: must be an integer');
  }
  return { ...rule, cidr: normalizeCidr(rule.cidr) };
}

function nameTaken(error: unknown, name: string | undefined): unknown {
  if (uniqueViolation(error) === undefined) return error;
  return new MuonError('MUON_ERR_CONFLICT', `name: a security group named "${name}" exists`, {
    cause: error,
  });
}

async function rulesOf(db: Kysely<Database>, groupId: number): Promise<SecurityRule[]> {
  const rows = await db
    .selectFrom('security_group_rules')
    .selectAll()
    .where('group_id', '=', groupId)
    .orderBy('priority')
    .orderBy('id')
    .execute();
  return rows.map(toRule);
}

/** The licenses whose mappings use a group: a rule change changes what those mappings admit. */
async function announceUsers(db: Kysely<Database>, groupId: number, changed: Changed): Promise<void> {
  const rows = await db
    .selectFrom('port_mappings')
    .select('license_id')
    .distinct()
    .where('security_group_id', '=', groupId)
    .execute();
  for (const row of rows) changed(toNumber(row.license_id));
}

export class SecurityGroupRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewSecurityGroup, rules: readonly NewSecurityRule[] = []): Promise<SecurityGroup> {
    const checked = rules.map(checkRule);
    const defaultAction = checkAction('defaultAction', input.defaultAction ?? 'allow');
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db) => {
      let group: SecurityGroup;
      try {
        group = toGroup(
          await db
            .insertInto('security_groups')
            .values({
              name: checkName('name', input.name),
              description: input.description ?? null,
              default_action: defaultAction,
              created_at: now,
              updated_at: now,
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
        );
      } catch (error) {
        throw nameTaken(error, input.name);
      }
      if (checked.length > 0) await this.#insertRules(db, group.id, checked, now);
      return group;
    });
  }

  async get(id: number): Promise<SecurityGroup | undefined> {
    const row = await this.#ctx.read((db) =>
      db.selectFrom('security_groups').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row && toGroup(row);
  }

  async list(filter: SecurityGroupFilter = {}): Promise<Page<SecurityGroup>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('security_groups');
      if (filter.search) query = query.where(containsText('name', filter.search));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('id').limit(limit).offset(offset).execute(),
        toGroup,
      );
    });
  }

  /** A new default action is announced (it changes who gets in); a new name or description is not. */
  async update(id: number, patch: Partial<NewSecurityGroup>): Promise<SecurityGroup> {
    if (patch.defaultAction !== undefined) checkAction('defaultAction', patch.defaultAction);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      let row: Selectable<SecurityGroupsTable> | undefined;
      try {
        row = await db
          .updateTable('security_groups')
          .set({
            ...(patch.name !== undefined && { name: checkName('name', patch.name) }),
            ...(patch.description !== undefined && { description: patch.description }),
            ...(patch.defaultAction !== undefined && { default_action: patch.defaultAction }),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        throw nameTaken(error, patch.name);
      }
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `security group ${id} does not exist`);
      if (patch.defaultAction !== undefined) await announceUsers(db, id, changed);
      return toGroup(row);
    });
  }

  /** Fails with CONFLICT while a mapping uses the group. */
  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db) => {
      let deleted: bigint;
      try {
        deleted = (await db.deleteFrom('security_groups').where('id', '=', id).executeTakeFirst())
          .numDeletedRows;
      } catch (error) {
        if (!isForeignKeyViolation(error)) throw error;
        throw new MuonError('MUON_ERR_CONFLICT', `security group ${id} is used by mappings`, {
          cause: error,
        });
      }
      if (deleted === 0n) throw new MuonError('MUON_ERR_NOT_FOUND', `security group ${id} does not exist`);
    });
  }

  /** The group's rules in evaluation order. */
  async rules(groupId: number): Promise<SecurityRule[]> {
    return this.#ctx.read((db) => rulesOf(db, groupId));
  }

  async addRule(groupId: number, rule: NewSecurityRule): Promise<SecurityRule> {
    const checked = checkRule(rule);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const [created] = await this.#insertRules(db, groupId, [checked], now);
      if (!created) throw new Error('insert returned no row');
      await announceUsers(db, groupId, changed);
      return created;
    });
  }

  async updateRule(ruleId: number, patch: Partial<NewSecurityRule>): Promise<SecurityRule> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const before = await db
        .selectFrom('security_group_rules')
        .selectAll()
        .where('id', '=', ruleId)
        .executeTakeFirst();
      if (!before) throw new MuonError('MUON_ERR_NOT_FOUND', `rule ${ruleId} does not exist`);
      const current = toRule(before);
      const rule = checkRule({
        action: patch.action ?? current.action,
        cidr: patch.cidr ?? current.cidr,
        priority: patch.priority ?? current.priority,
        description: patch.description !== undefined ? patch.description : current.description,
      });
      const row = await db
        .updateTable('security_group_rules')
        .set({
          action: rule.action,
          cidr: rule.cidr,
          priority: rule.priority,
          description: rule.description ?? null,
          updated_at: now,
        })
        .where('id', '=', ruleId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await announceUsers(db, current.groupId, changed);
      return toRule(row);
    });
  }

  async deleteRule(ruleId: number): Promise<void> {
    await this.#ctx.write(async (db, changed) => {
      const row = await db
        .deleteFrom('security_group_rules')
        .where('id', '=', ruleId)
        .returning('group_id')
        .executeTakeFirst();
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `rule ${ruleId} does not exist`);
      await announceUsers(db, toNumber(row.group_id), changed);
    });
  }

  /** Replaces all rules of a group at once (an editor's "save"). */
  async replaceRules(groupId: number, rules: readonly NewSecurityRule[]): Promise<SecurityRule[]> {
    const checked = rules.map(checkRule);
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const group = await db
        .selectFrom('security_groups')
        .select('id')
        .where('id', '=', groupId)
        .executeTakeFirst();
      if (!group) throw new MuonError('MUON_ERR_NOT_FOUND', `security group ${groupId} does not exist`);
      await db.deleteFrom('security_group_rules').where('group_id', '=', groupId).execute();
      if (checked.length > 0) await this.#insertRules(db, groupId, checked, now);
      await announceUsers(db, groupId, changed);
      return rulesOf(db, groupId);
    });
  }

  async #insertRules(
    db: Kysely<Database>,
    groupId: number,
    rules: readonly NewSecurityRule[],
    now: string,
  ): Promise<SecurityRule[]> {
    try {
      const rows = await db
        .insertInto('security_group_rules')
        .values(
          rules.map((rule) => ({
            group_id: groupId,
            action: rule.action,
            cidr: rule.cidr,
            priority: rule.priority,
            description: rule.description ?? null,
            created_at: now,
            updated_at: now,
          })),
        )
        .returningAll()
        .execute();
      return rows.map(toRule);
    } catch (error) {
      if (!isForeignKeyViolation(error)) throw error;
      throw new MuonError('MUON_ERR_NOT_FOUND', `security group ${groupId} does not exist`, { cause: error });
    }
  }
}
