// Version 3: the port pool (ranges of public ports), port groups, and who may use each group.

import { sql } from 'kysely';
import { addId, addTimestamps, type Migration } from './ddl.ts';

export const portPool: Migration = {
  version: 3,
  name: 'port pool and port groups',
  async up(db, dialect) {
    const groups = addId(db.schema.createTable('port_groups'), dialect)
      .addColumn('name', 'text', (c) => c.notNull().unique().check(sql`length(name) > 0`))
      .addColumn('description', 'text');
    await addTimestamps(groups, dialect).execute();

    // One row per range; a single port is a range with port_start = port_end.
    const pool = addId(db.schema.createTable('port_pool'), dialect)
      .addColumn('group_id', 'integer', (c) => c.references('port_groups.id').onDelete('set null'))
      .addColumn('port_start', 'integer', (c) => c.notNull())
      .addColumn('port_end', 'integer', (c) => c.notNull())
      .addColumn('description', 'text')
      .addCheckConstraint(
        'port_pool_range_check',
        sql`1 <= port_start and port_start <= port_end and port_end <= 65535`,
      );
    await addTimestamps(pool, dialect).execute();
    await db.schema
      .createIndex('port_pool_port_start')
      .on('port_pool')
      .columns(['port_start', 'port_end'])
      .execute();
    await db.schema.createIndex('port_pool_group_id').on('port_pool').column('group_id').execute();

    const assignments = addId(db.schema.createTable('port_group_assignments'), dialect)
      .addColumn('group_id', 'integer', (c) => c.notNull().references('port_groups.id').onDelete('cascade'))
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('license_id', 'integer', (c) => c.references('licenses.id').onDelete('cascade'))
      .addCheckConstraint(
        'port_group_assignments_scope_check',
        sql`(scope = 'global' and user_id is null and license_id is null)
          or (scope = 'user' and user_id is not null and license_id is null)
          or (scope = 'license' and license_id is not null and user_id is null)`,
      );
    await addTimestamps(assignments, dialect).execute();
    // One assignment per group and target (partial indexes: NULLs would not collide).
    await db.schema
      .createIndex('port_group_assignments_global_unique')
      .unique()
      .on('port_group_assignments')
      .column('group_id')
      .where(sql.ref('scope'), '=', 'global')
      .execute();
    await db.schema
      .createIndex('port_group_assignments_user_id_unique')
      .unique()
      .on('port_group_assignments')
      .columns(['group_id', 'user_id'])
      .where(sql.ref('scope'), '=', 'user')
      .execute();
    await db.schema
      .createIndex('port_group_assignments_license_id_unique')
      .unique()
      .on('port_group_assignments')
      .columns(['group_id', 'license_id'])
      .where(sql.ref('scope'), '=', 'license')
      .execute();
  },
};
