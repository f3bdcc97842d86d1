// Version 7: HTTP and HTTPS routed by host name on the shared ports. Base domains (with an
// optional PEM certificate and key for HTTPS, and a force-HTTPS flag), the host names of http
// and https mappings (each under a domain, unique per protocol), and per-mapping options:
// forwarded headers, host rewrite, basic auth (user name and argon2id hash).

import { sql } from 'kysely';
import type { DialectName } from '../connect.ts';
import { addFlag, addId, addTimestamps, type Migration, timeType } from './ddl.ts';

export const httpDomains: Migration = {
  version: 7,
  name: 'domains and http host names',
  async up(db, dialect) {
    let domains = addId(db.schema.createTable('domains'), dialect)
      .addColumn('name', 'text', (c) => c.notNull().unique().check(sql`length(name) > 0`))
      .addColumn('certificate_pem', 'text')
      .addColumn('private_key_pem', 'text');
    domains = addFlag(domains, dialect, 'force_https', false);
    domains = addFlag(domains, dialect, 'enabled', true)
      .addColumn('description', 'text')
      .addCheckConstraint(
        'domains_key_pair_check',
        sql`(certificate_pem is null and private_key_pem is null)
          or (certificate_pem is not null and private_key_pem is not null)`,
      );
    await addTimestamps(domains, dialect).execute();

    await addId(db.schema.createTable('mapping_hosts'), dialect)
      .addColumn('mapping_id', 'integer', (c) =>
        c.notNull().references('port_mappings.id').onDelete('cascade'),
      )
      // Restrict: a domain that host names use cannot be deleted out from under them.
      .addColumn('domain_id', 'integer', (c) => c.notNull().references('domains.id').onDelete('restrict'))
      .addColumn('protocol', 'text', (c) => c.notNull().check(sql`protocol in ('http', 'https')`))
      .addColumn('hostname', 'text', (c) => c.notNull().check(sql`length(hostname) > 0`))
      .addColumn('created_at', timeType(dialect), (c) => c.notNull())
      .execute();
    // One listener per protocol: a host name routes to one mapping on it.
    await db.schema
      .createIndex('mapping_hosts_protocol_hostname_unique')
      .unique()
      .on('mapping_hosts')
      .columns(['protocol', 'hostname'])
      .execute();
    await db.schema
      .createIndex('mapping_hosts_mapping_id')
      .on('mapping_hosts')
      .column('mapping_id')
      .execute();
    await db.schema.createIndex('mapping_hosts_domain_id').on('mapping_hosts').column('domain_id').execute();

    // One column per statement: SQLite adds a single column per ALTER TABLE.
    for (const name of ['add_forwarded_headers', 'rewrite_host']) await addFlagColumn(db, dialect, name);
    for (const name of ['basic_auth_username', 'basic_auth_hash']) {
      await db.schema.alterTable('port_mappings').addColumn(name, 'text').execute();
    }
  },
};

/** A boolean column on port_mappings, false for every existing row. */
async function addFlagColumn(db: Parameters<Migration['up']>[0], dialect: DialectName, name: string) {
  await db.schema
    .alterTable('port_mappings')
    .addColumn(name, dialect === 'postgres' ? 'boolean' : 'integer', (c) =>
      dialect === 'postgres'
        ? c.notNull().defaultTo(false)
        : c
            .notNull()
            .defaultTo(0)
            .check(sql`${sql.ref(name)} in (0, 1)`),
    )
    .execute();
}
