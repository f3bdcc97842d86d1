// Version 4: traffic statistics (64-bit counters per mapping and time bucket), the client
// connection log and the admin login log.

import { sql } from 'kysely';
import { addFlag, addId, type Migration, timeType } from './ddl.ts';

export const trafficAndLogs: Migration = {
  version: 4,
  name: 'traffic statistics and logs',
  async up(db, dialect) {
    // No foreign key to port_mappings: a deleted mapping's history still counts for its license.
    await db.schema
      .createTable('traffic_stats')
      .addColumn('mapping_id', 'integer', (c) => c.notNull())
      .addColumn('license_id', 'integer', (c) => c.notNull().references('licenses.id').onDelete('cascade'))
      .addColumn('granularity', 'text', (c) =>
        c.notNull().check(sql`granularity in ('minute', 'hour', 'day', 'month')`),
      )
      .addColumn('bucket_start', timeType(dialect), (c) => c.notNull())
      .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('traffic_stats_pk', ['mapping_id', 'granularity', 'bucket_start'])
      .execute();
    await db.schema
      .createIndex('traffic_stats_license_id')
      .on('traffic_stats')
      .columns(['license_id', 'granularity', 'bucket_start'])
      .execute();

    await addId(db.schema.createTable('client_connections'), dialect)
      .addColumn('license_id', 'integer', (c) => c.references('licenses.id').onDelete('set null'))
      .addColumn('license_name', 'text', (c) => c.notNull())
      .addColumn('remote_address', 'text', (c) => c.notNull())
      .addColumn('connected_at', timeType(dialect), (c) => c.notNull())
      .addColumn('disconnected_at', timeType(dialect))
      .addColumn('close_code', 'text')
      .execute();
    await db.schema
      .createIndex('client_connections_license_id')
      .on('client_connections')
      .columns(['license_id', 'connected_at'])
      .execute();
    await db.schema
      .createIndex('client_connections_connected_at')
      .on('client_connections')
      .column('connected_at')
      .execute();

    let logins = addId(db.schema.createTable('admin_logins'), dialect)
      .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('remote_address', 'text', (c) => c.notNull());
    logins = addFlag(logins, dialect, 'success', false);
    await logins
      .addColumn('reason', 'text')
      .addColumn('created_at', timeType(dialect), (c) => c.notNull())
      .execute();
    await db.schema.createIndex('admin_logins_created_at').on('admin_logins').column('created_at').execute();
    await db.schema
      .createIndex('admin_logins_username')
      .on('admin_logins')
      .columns(['username', 'created_at'])
      .execute();
  },
};
