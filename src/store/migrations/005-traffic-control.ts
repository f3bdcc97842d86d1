// Version 5: traffic control. Concurrent visitor connection limits on licenses and mappings
// (null = unlimited), and the action a security group takes when none of its rules matches.

import { sql } from 'kysely';
import type { Migration } from './ddl.ts';

export const trafficControl: Migration = {
  version: 5,
  name: 'connection limits and security group default action',
  async up(db) {
    // One column per statement: SQLite adds a single column per ALTER TABLE.
    for (const table of ['licenses', 'port_mappings']) {
      await db.schema
        .alterTable(table)
        .addColumn('max_connections', 'integer', (c) => c.check(sql`max_connections > 0`))
        .execute();
    }
    await db.schema
      .alterTable('security_groups')
      .addColumn('default_action', 'text', (c) =>
        c.notNull().defaultTo('allow').check(sql`default_action in ('allow', 'deny')`),
      )
      .execute();
  },
};
