// The store seen by the tunnel core: the narrow Directory interface (server/directory.ts), with
// a license enabled only while its owner is too, and only its TCP mappings (the protocols the
// tunnel serves so far). Change events come from the store's committed writes.

import type { Directory, LicenseRecord, MappingRecord } from '../server/directory.ts';
import { translate } from './db-errors.ts';
import type { Store } from './store.ts';
import { toBool, toNumber } from './values.ts';

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
    const rows = await this.#store.db
      .selectFrom('licenses')
      .innerJoin('users', 'users.id', 'licenses.owner_id')
      .leftJoin('port_mappings as m', (join) =>
        join.onRef('m.license_id', '=', 'licenses.id').on('m.protocol', '=', 'tcp'),
      )
      .select([
        'licenses.id',
        'licenses.name',
        'licenses.key',
        'licenses.enabled',
        'users.enabled as owner_enabled',
        'm.id as mapping_id',
        'm.public_port',
        'm.target_host',
        'm.target_port',
        'm.enabled as mapping_enabled',
      ])
      .where(`licenses.${column}`, '=', value)
      .orderBy('m.id')
      .execute()
      .catch((error: unknown) => {
        throw translate(error);
      });
    const first = rows[0];
    if (!first) return undefined;
    const mappings: MappingRecord[] = [];
    for (const m of rows) {
      if (m.mapping_id === null || m.public_port === null || m.target_host === null || m.target_port === null)
        continue;
      mappings.push({
        id: String(toNumber(m.mapping_id)),
        protocol: 'tcp',
        publicPort: toNumber(m.public_port),
        targetHost: m.target_host,
        targetPort: toNumber(m.target_port),
        enabled: toBool(m.mapping_enabled ?? false),
      });
    }
    return {
      id: String(toNumber(first.id)),
      name: first.name,
      key: first.key,
      enabled: toBool(first.enabled) && toBool(first.owner_enabled),
      mappings,
    };
  }
}
