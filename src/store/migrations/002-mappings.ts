// Version 2: security groups with their ordered rules, and port mappings.

import { sql } from 'kysely';
import { addFlag, addId, addLimits, addTimestamps, type Migration } from './ddl.ts';

export const mappings: Migration = {
  version: 2,
  name: 'security groups and port mappings',
  async up(db, dialect) {
    const groups = addId(db.schema.createTable('security_groups'), dialect)
      .addColumn('name', 'text', (c) => c.notNull().unique().check(sql`length(name) > 0`))
      .addColumn('description', 'text');
    await addTimestamps(groups, dialect).execute();

    const rules = addId(db.schema.createTable('security_group_rules'), dialect)
      .addColumn('group_id', 'integer', (c) =>
        c.notNull().references('security_groups.id').onDelete('cascade'),
      )
      .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('allow', 'deny')`))
      .addColumn('cidr', 'text', (c) => c.notNull())
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('description', 'text');
    await addTimestamps(rules, dialect).execute();
    await db.schema
      .createIndex('security_group_rules_group_id_priority')
      .on('security_group_rules')
      .columns(['group_id', 'priority'])
      .execute();

    let table = addId(db.schema.createTable('port_mappings'), dialect)
      .addColumn('license_id', 'integer', (c) => c.notNull().references('licenses.id').onDelete('cascade'))
      .addColumn('protocol', 'text', (c) =>
        c.notNull().check(sql`protocol in ('tcp', 'udp', 'http', 'https')`),
      )
      // tcp, http and https listen on TCP ports, udp on UDP ports: a port is unique per family.
      .addColumn('port_family', 'text', (c) => c.notNull())
      .addColumn('public_port', 'integer', (c) => c.check(sql`public_port between 1 and 65535`))
      .addColumn('domain', 'text')
      .addColumn('target_host', 'text', (c) => c.notNull().check(sql`length(target_host) > 0`))
      .addColumn('target_port', 'integer', (c) => c.notNull().check(sql`target_port between 1 and 65535`));
    table = addFlag(table, dialect, 'enabled', true);
    table = addLimits(table)
      // Restrict: a group in use cannot be deleted, so no mapping silently loses its rules.
      .addColumn('security_group_id', 'integer', (c) =>
        c.references('security_groups.id').onDelete('restrict'),
      )
      .addColumn('description', 'text')
      .addCheckConstraint(
        'port_mappings_family_check',
        sql`port_family = case when protocol = 'udp' then 'udp' else 'tcp' end`,
      )
      .addCheckConstraint(
        'port_mappings_address_check',
        sql`(protocol in ('http', 'https') and (public_port is not null or domain is not null))
          or (protocol in ('tcp', 'udp') and public_port is not null and domain is null)`,
      );
    await addTimestamps(table, dialect).execute();
    await db.schema
      .createIndex('port_mappings_public_port_unique')
      .unique()
      .on('port_mappings')
      .columns(['port_family', 'public_port'])
      .execute();
    await db.schema
      .createIndex('port_mappings_domain_unique')
      .unique()
      .on('port_mappings')
      .columns(['protocol', 'domain'])
      .execute();
    await db.schema
      .createIndex('port_mappings_license_id')
      .on('port_mappings')
      .column('license_id')
      .execute();
  },
};
