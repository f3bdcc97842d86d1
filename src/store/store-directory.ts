// The store seen by the tunnel core: the narrow Directory interface (server/directory.ts), with
// a license enabled only while its owner is too, and its mappings (TCP and UDP by public port,
// HTTP and HTTPS by host name through the router, which reads its own table from
// store-http-directory.ts), each with its limits and its security group's rules. Change events
// come from the store's committed writes.

import type {
  AccessRule,
  Directory,
  LicenseRecord,
  MappingRecord,
  SecurityPolicy,
} from '../server/directory.ts';
import { translate } from './db-errors.ts';
import type { Store } from './store.ts';
import { toBool, toNumber, toNumberOrNull } from './values.ts';

export class StoreDirectory implements Directory {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async findByKeyId(keyId: Buffer): Promise<LicenseRecord | undefined> {
    return this.#find('key_id', keyId.toString('hex'));
  }

  async getLicense(id: string): Promise<LicenseRecord | undefined> {
    if (!/^[1-9]\d{0,9}$/.test(id)) return undefined;
    return this.#find('id', Number(id));
  }

  onChange(listener: (licenseId: string) => void): () => void {
    return this.#store.onLicenseChange((id) => listener(String(id)));
  }

  async #find(column: 'id' | 'key_id', value: number | string): Promise<LicenseRecord | undefined> {
    // One statement, so the license, its owner and its mappings are read at the same moment.
    // The rules come in a second one: a rule change between the two is announced after its
    // commit, and the reconcile that follows reads again.
    const rows = await this.#store.db
      .selectFrom('licenses')
      .innerJoin('users', 'users.id', 'licenses.owner_id')
      .leftJoin('port_mappings as m', 'm.license_id', 'licenses.id')
      .leftJoin('security_groups as g', 'g.id', 'm.security_group_id')
      .select([
        'licenses.id',
        'licenses.name',
        'licenses.key',
        'licenses.enabled',
        'licenses.upload_limit',
        'licenses.download_limit',
        'licenses.max_connections',
        'users.enabled as owner_enabled',
        'm.id as mapping_id',
        'm.protocol',
        'm.proxy_protocol',
        'm.public_port',
        'm.target_host',
        'm.target_port',
        'm.enabled as mapping_enabled',
        'm.upload_limit as mapping_upload_limit',
        'm.download_limit as mapping_download_limit',
        'm.max_connections as mapping_max_connections',
        'g.id as group_id',
        'g.default_action',
      ])
      .where(`licenses.${column}`, '=', value)
      .orderBy('m.id')
      .execute()
      .catch((error: unknown) => {
        throw translate(error);
      });
    const first = rows[0];
    if (!first) return undefined;
    const groupIds = [...new Set(rows.flatMap((r) => (r.group_id === null ? [] : [toNumber(r.group_id)])))];
    const rules = await this.#rules(groupIds);
    const mappings: MappingRecord[] = [];
    for (const m of rows) {
      // http and https mappings have no port: the HTTP router finds them by host name.
      const byName = m.protocol === 'http' || m.protocol === 'https';
      if (
        m.mapping_id === null ||
        m.protocol === null ||
        (m.public_port === null && !byName) ||
        m.target_host === null ||
        m.target_port === null
      )
        continue;
      let security: SecurityPolicy | null = null;
      if (m.group_id !== null) {
        const groupId = toNumber(m.group_id);
        security = {
          id: String(groupId),
          rules: rules.get(groupId) ?? [],
          defaultAction: m.default_action ?? 'allow',
        };
      }
      mappings.push({
        id: String(toNumber(m.mapping_id)),
        protocol: m.protocol,
        publicPort: byName || m.public_port === null ? 0 : toNumber(m.public_port),
        targetHost: m.target_host,
        targetPort: toNumber(m.target_port),
        enabled: toBool(m.mapping_enabled ?? false),
        uploadLimit: toNumberOrNull(m.mapping_upload_limit),
        downloadLimit: toNumberOrNull(m.mapping_download_limit),
        maxConnections: toNumberOrNull(m.mapping_max_connections),
        security,
        proxyProtocol: m.protocol === 'tcp' ? (m.proxy_protocol ?? null) : null,
      });
    }
    return {
      id: String(toNumber(first.id)),
      name: first.name,
      key: first.key,
      enabled: toBool(first.enabled) && toBool(first.owner_enabled),
      uploadLimit: toNumberOrNull(first.upload_limit),
      downloadLimit: toNumberOrNull(first.download_limit),
      maxConnections: toNumberOrNull(first.max_connections),
      mappings,
    };
  }

  /** The rules of each group, in evaluation order. */
  async #rules(groupIds: readonly number[]): Promise<Map<number, AccessRule[]>> {
    const byGroup = new Map<number, AccessRule[]>();
    if (groupIds.length === 0) return byGroup;
    const rows = await this.#store.db
      .selectFrom('security_group_rules')
      .select(['group_id', 'action', 'cidr'])
      .where('group_id', 'in', groupIds)
      .orderBy('group_id')
      .orderBy('priority')
      .orderBy('id')
      .execute()
      .catch((error: unknown) => {
        throw translate(error);
      });
    for (const row of rows) {
      const groupId = toNumber(row.group_id);
      const list = byGroup.get(groupId) ?? [];
      list.push({ action: row.action, cidr: row.cidr });
      byGroup.set(groupId, list);
    }
    return byGroup;
  }
}
