// Port mappings: a public port (or, for http/https, host names under registered domains, see
// mapping-hosts.ts) → target host:port, reached through a license's client. A public port is
// unique per family (tcp, http and https share TCP ports; udp has its own); a domain or host name
// is unique per protocol. Every change is announced for its license. The record types and their
// rows are in mapping-records.ts, the checks before a write in mapping-checks.ts.

import type { Kysely } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import { type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, PortFamily, Protocol } from '../schema.ts';
import { timeValue, toNumber } from '../values.ts';
import { translateWrite, validated } from './mapping-checks.ts';
import { replaceHosts, resolveHosts, withHostnames } from './mapping-hosts.ts';
import {
  columnsOf,
  isHttp,
  type Mapping,
  type MappingPatch,
  type MappingRow,
  type NewMapping,
  toMapping,
} from './mapping-records.ts';

export interface MappingFilter extends PageRequest {
  licenseId?: number;
  /** Mappings of every license this user owns. */
  ownerId?: number;
  protocol?: Protocol;
  enabled?: boolean;
  publicPort?: number;
  securityGroupId?: number;
  /** Mappings whose license's client is (not) online. */
  online?: boolean;
}

/** The keys of a patch that are set (undefined means "keep"; null is a value). */
function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function mappingRow(db: Kysely<Database>, id: number): Promise<MappingRow | undefined> {
  return db.selectFrom('port_mappings').selectAll().where('id', '=', id).executeTakeFirst();
}

export class MappingRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewMapping): Promise<Mapping> {
    const m = validated({
      protocol: input.protocol ?? 'tcp',
      publicPort: input.publicPort ?? null,
      domain: input.domain ?? null,
      targetHost: input.targetHost,
      targetPort: input.targetPort,
      enabled: input.enabled ?? true,
      uploadLimit: input.uploadLimit ?? null,
      downloadLimit: input.downloadLimit ?? null,
      maxConnections: input.maxConnections ?? null,
      securityGroupId: input.securityGroupId ?? null,
      proxyProtocol: input.proxyProtocol ?? null,
      hostnames: input.hostnames ?? [],
      addForwardedHeaders: input.addForwardedHeaders ?? isHttp(input.protocol ?? 'tcp'),
      rewriteHost: input.rewriteHost ?? false,
      basicAuth: input.basicAuth ?? null,
      description: input.description ?? null,
    });
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const hosts = isHttp(m.protocol) ? await resolveHosts(db, m.protocol, m.hostnames) : [];
      try {
        const row = await db
          .insertInto('port_mappings')
          .values({
            license_id: input.licenseId,
            ...columnsOf(m),
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (isHttp(m.protocol)) await replaceHosts(db, toNumber(row.id), m.protocol, hosts, this.#ctx.now());
        changed(input.licenseId);
        return { ...toMapping(row), hostnames: m.hostnames };
      } catch (error) {
        throw translateWrite(error, m);
      }
    });
  }

  async get(id: number): Promise<Mapping | undefined> {
    return this.#ctx.read(async (db) => {
      const row = await mappingRow(db, id);
      return row && (await withHostnames(db, [toMapping(row)]))[0];
    });
  }

  async list(filter: MappingFilter = {}): Promise<Page<Mapping>> {
    return this.#ctx.read(async (db) => {
      let query = db.selectFrom('port_mappings');
      if (filter.licenseId !== undefined) query = query.where('license_id', '=', filter.licenseId);
      if (filter.ownerId !== undefined) {
        const ownerId = filter.ownerId;
        query = query.where('license_id', 'in', (eb) =>
          eb.selectFrom('licenses').select('licenses.id').where('licenses.owner_id', '=', ownerId),
        );
      }
      if (filter.protocol !== undefined) query = query.where('protocol', '=', filter.protocol);
      if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
      if (filter.publicPort !== undefined) query = query.where('public_port', '=', filter.publicPort);
      if (filter.securityGroupId !== undefined)
        query = query.where('security_group_id', '=', filter.securityGroupId);
      if (filter.online !== undefined) {
        const online = filter.online;
        query = query.where('license_id', 'in', (eb) =>
          eb.selectFrom('licenses').select('licenses.id').where('licenses.online', '=', online),
        );
      }
      const page = await pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('id').limit(limit).offset(offset).execute(),
        toMapping,
      );
      return { ...page, items: await withHostnames(db, page.items) };
    });
  }

  /** Every mapping of one license, unpaginated (a license has a handful). */
  async listByLicense(licenseId: number): Promise<Mapping[]> {
    return this.#ctx.read(async (db) => {
      const rows = await db
        .selectFrom('port_mappings')
        .selectAll()
        .where('license_id', '=', licenseId)
        .orderBy('id')
        .execute();
      return withHostnames(db, rows.map(toMapping));
    });
  }

  /** Every public port of a family that some mapping holds. */
  async usedPorts(family: PortFamily): Promise<Set<number>> {
    const rows = await this.#ctx.read((db) =>
      db
        .selectFrom('port_mappings')
        .select('public_port')
        .where('port_family', '=', family)
        .where('public_port', 'is not', null)
        .execute(),
    );
    return new Set(rows.flatMap((row) => (row.public_port === null ? [] : [toNumber(row.public_port)])));
  }

  /** The mapping that holds a public port of a family, if any. */
  async findByPort(family: PortFamily, publicPort: number): Promise<Mapping | undefined> {
    return this.#ctx.read(async (db) => {
      const row = await db
        .selectFrom('port_mappings')
        .selectAll()
        .where('port_family', '=', family)
        .where('public_port', '=', publicPort)
        .executeTakeFirst();
      return row && (await withHostnames(db, [toMapping(row)]))[0];
    });
  }

  async update(id: number, patch: MappingPatch): Promise<Mapping> {
    const now = timeValue(this.#ctx.now());
    return this.#ctx.write(async (db, changed) => {
      const before = await mappingRow(db, id);
      if (!before) throw new MuonError('MUON_ERR_NOT_FOUND', `mapping ${id} does not exist`);
      const [current] = await withHostnames(db, [toMapping(before)]);
      if (!current) throw new MuonError('MUON_ERR_NOT_FOUND', `mapping ${id} does not exist`);
      const { id: _id, licenseId: _license, createdAt: _created, updatedAt: _updated, ...fields } = current;
      // The stored hash stays unless the patch sets basic auth anew (or removes it).
      const basicAuth =
        before.basic_auth_username === null || before.basic_auth_hash === null
          ? null
          : { username: before.basic_auth_username, passwordHash: before.basic_auth_hash };
      // A mapping that stops being http or https drops the options only those have.
      const leavingHttp = isHttp(current.protocol) && patch.protocol !== undefined && !isHttp(patch.protocol);
      const reset = leavingHttp
        ? { hostnames: [], addForwardedHeaders: false, rewriteHost: false, basicAuth: null }
        : {};
      const m = validated({ ...fields, basicAuth, ...reset, ...definedOnly(patch) });
      const rehost = patch.hostnames !== undefined || m.protocol !== current.protocol;
      const hosts = rehost && isHttp(m.protocol) ? await resolveHosts(db, m.protocol, m.hostnames) : [];
      try {
        const row = await db
          .updateTable('port_mappings')
          .set({
            ...columnsOf(m),
            updated_at: now,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        if (rehost) {
          if (isHttp(m.protocol)) await replaceHosts(db, id, m.protocol, hosts, this.#ctx.now());
          else await replaceHosts(db, id, 'http', [], this.#ctx.now());
        }
        changed(current.licenseId);
        return { ...toMapping(row), hostnames: m.hostnames };
      } catch (error) {
        throw translateWrite(error, m);
      }
    });
  }

  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db, changed) => {
      const row = await db
        .deleteFrom('port_mappings')
        .where('id', '=', id)
        .returning('license_id')
        .executeTakeFirst();
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `mapping ${id} does not exist`);
      changed(toNumber(row.license_id));
    });
  }
}
