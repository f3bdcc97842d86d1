// Port mappings: a public port (or, for http/https, host names under registered domains, see
// mapping-hosts.ts) → target host:port, reached through a license's client. A public port is
// unique per family (tcp, http and https share TCP ports; udp has its own); a domain or host name
// is unique per protocol. Every change is announced for its license.

import type { Kysely, Selectable } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import { type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, PortFamily, PortMappingsTable, Protocol, ProxyProtocolVersion } from '../schema.ts';
import { timeValue, toBool, toDate, toNumber, toNumberOrNull } from '../values.ts';
import { checkMaxConnections } from './licenses.ts';
import { checkHttpFields, replaceHosts, resolveHosts, withHostnames } from './mapping-hosts.ts';

export interface Mapping {
  id: number;
  licenseId: number;
  protocol: Protocol;
  /** Null only for an http/https mapping reached by its domain alone. */
  publicPort: number | null;
  domain: string | null;
  targetHost: string;
  targetPort: number;
  enabled: boolean;
  /** Bytes per second from visitors towards the target, over all connections; null = unlimited. */
  uploadLimit: number | null;
  /** Bytes per second from the target back to visitors, over all connections; null = unlimited. */
  downloadLimit: number | null;
  /** Visitor connections open at once; null = unlimited. */
  maxConnections: number | null;
  securityGroupId: number | null;
  /** TCP: the PROXY protocol header the client writes to the target first; null = none. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** http/https: the names it is reached by on the shared ports (exact, or `*.` one label). */
  hostnames: string[];
  /** http/https: X-Forwarded-For/-Proto/-Host carry what the server saw. */
  addForwardedHeaders: boolean;
  /** http/https: Host is rewritten to targetHost:targetPort. */
  rewriteHost: boolean;
  /** http/https: the user name visitors must give (the password is stored only as a hash). */
  basicAuth: { username: string } | null;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewMapping {
  licenseId: number;
  protocol?: Protocol;
  publicPort?: number | null;
  domain?: string | null;
  targetHost: string;
  targetPort: number;
  enabled?: boolean;
  uploadLimit?: number | null;
  downloadLimit?: number | null;
  maxConnections?: number | null;
  securityGroupId?: number | null;
  proxyProtocol?: ProxyProtocolVersion | null;
  /** http/https: replaces the host names (the first is also stored as `domain`). */
  hostnames?: string[];
  /** http/https; default true for them. */
  addForwardedHeaders?: boolean;
  rewriteHost?: boolean;
  /** http/https: an argon2id hash, never the password itself. */
  basicAuth?: { username: string; passwordHash: string } | null;
  description?: string | null;
}

/** Everything but the license: a mapping does not move between licenses (its traffic history would). */
export type MappingPatch = Partial<Omit<NewMapping, 'licenseId'>>;

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

type Row = Selectable<PortMappingsTable>;

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'http', 'https'];
export const PROXY_PROTOCOL_VERSIONS: readonly ProxyProtocolVersion[] = ['v1', 'v2'];

export function portFamily(protocol: Protocol): PortFamily {
  return protocol === 'udp' ? 'udp' : 'tcp';
}

function isHttp(protocol: Protocol): protocol is 'http' | 'https' {
  return protocol === 'http' || protocol === 'https';
}

export function toMapping(row: Row): Mapping {
  return {
    id: toNumber(row.id),
    licenseId: toNumber(row.license_id),
    protocol: row.protocol,
    publicPort: toNumberOrNull(row.public_port),
    domain: row.domain,
    targetHost: row.target_host,
    targetPort: toNumber(row.target_port),
    enabled: toBool(row.enabled),
    uploadLimit: toNumberOrNull(row.upload_limit),
    downloadLimit: toNumberOrNull(row.download_limit),
    maxConnections: toNumberOrNull(row.max_connections),
    securityGroupId: toNumberOrNull(row.security_group_id),
    proxyProtocol: row.proxy_protocol ?? null,
    hostnames: [],
    addForwardedHeaders: toBool(row.add_forwarded_headers),
    rewriteHost: toBool(row.rewrite_host),
    basicAuth: row.basic_auth_username === null ? null : { username: row.basic_auth_username },
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function invalid(message: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', message);
}

function checkPort(field: string, port: number | null | undefined): void {
  if (port == null) return;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw invalid(`${field}: must be a port from 1 to 65535`);
}

/** The complete mapping as it will be stored; throws INVALID_INPUT naming the field. */
type MappingFields = Required<Omit<NewMapping, 'licenseId'>>;

/** The table's columns for a mapping's fields (shared by insert and update). */
function columnsOf(m: MappingFields) {
  return {
    protocol: m.protocol,
    port_family: portFamily(m.protocol),
    public_port: m.publicPort,
    domain: m.domain,
    target_host: m.targetHost,
    target_port: m.targetPort,
    enabled: m.enabled,
    upload_limit: m.uploadLimit,
    download_limit: m.downloadLimit,
    max_connections: m.maxConnections,
    security_group_id: m.securityGroupId,
    proxy_protocol: m.proxyProtocol,
    add_forwarded_headers: m.addForwardedHeaders,
    rewrite_host: m.rewriteHost,
    basic_auth_username: m.basicAuth?.username ?? null,
    basic_auth_hash: m.basicAuth?.passwordHash ?? null,
    description: m.description,
  };
}

/** The keys of a patch that are set (undefined means "keep"; null is a value). */
function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validated(m: MappingFields): MappingFields {
  if (!PROTOCOLS.includes(m.protocol)) throw invalid('protocol: must be tcp, udp, http or https');
  checkPort('publicPort', m.publicPort);
  checkPort('targetPort', m.targetPort);
  if (m.targetPort == null) throw invalid('targetPort: required');
  if (!m.targetHost || m.targetHost.trim() !== m.targetHost)
    throw invalid('targetHost: must be a host name or address');
  const hostnames = checkHttpFields(m);
  // A mapping with host names keeps its first one as its domain (what lists show).
  const named = hostnames[0] ?? m.domain;
  const domain = named == null ? null : named.toLowerCase().replace(/\.$/, '');
  if (
    domain !== null &&
    !/^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(domain)
  ) {
    throw invalid('domain: must be a host name such as app.example.com');
  }
  if (m.protocol === 'tcp' || m.protocol === 'udp') {
    if (domain !== null) throw invalid(`domain: only http and https mappings have a domain`);
    if (m.publicPort == null) throw invalid('publicPort: required for tcp and udp mappings');
  } else if (m.publicPort == null && domain === null) {
    throw invalid('publicPort: an http or https mapping needs a public port, a domain, or host names');
  }
  for (const field of ['uploadLimit', 'downloadLimit'] as const) {
    const value = m[field];
    if (value != null && (!Number.isSafeInteger(value) || value < 1)) {
      throw invalid(`${field}: must be a positive integer (bytes per second) or null`);
    }
  }
  checkMaxConnections(m.maxConnections);
  if (m.proxyProtocol !== null) {
    if (!PROXY_PROTOCOL_VERSIONS.includes(m.proxyProtocol))
      throw invalid('proxyProtocol: must be v1, v2 or null');
    if (m.protocol === 'udp')
      throw invalid('proxyProtocol: a udp mapping cannot send a PROXY protocol header');
  }
  return { ...m, domain, hostnames };
}

function translateWrite(
  error: unknown,
  m: { protocol: Protocol; publicPort?: number | null; domain?: string | null; hostnames?: string[] },
) {
  const unique = uniqueViolation(error);
  if (unique?.includes('domain') && m.hostnames?.length) {
    return new MuonError('MUON_ERR_CONFLICT', `hostnames: ${m.domain} is already mapped for ${m.protocol}`, {
      field: 'hostnames',
      cause: error,
    });
  }
  if (unique?.includes('domain')) {
    return new MuonError('MUON_ERR_CONFLICT', `domain: ${m.domain} is already mapped for ${m.protocol}`, {
      cause: error,
    });
  }
  if (unique !== undefined) {
    const family = portFamily(m.protocol).toUpperCase();
    return new MuonError(
      'MUON_ERR_PORT_CONFLICT',
      `publicPort: ${family} port ${m.publicPort} is already mapped`,
      {
        cause: error,
      },
    );
  }
  if (isForeignKeyViolation(error)) {
    return new MuonError('MUON_ERR_NOT_FOUND', 'the license or security group does not exist', {
      cause: error,
    });
  }
  return error;
}

async function mappingRow(db: Kysely<Database>, id: number): Promise<Row | undefined> {
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
