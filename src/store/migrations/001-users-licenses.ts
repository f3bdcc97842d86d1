// Version 1: users (admins and regular users) and the licenses they own.

import { sql } from 'kysely';
import { addFlag, addId, addLimits, addTimestamps, type Migration, timeType } from './ddl.ts';

export const usersAndLicenses: Migration = {
  version: 1,
  name: 'users and licenses',
  async up(db, dialect) {
    let users = addId(db.schema.createTable('users'), dialect)
      .addColumn('username', 'text', (c) => c.notNull().check(sql`length(username) > 0`))
      .addColumn('password_hash', 'text')
      .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'user')`));
    users = addFlag(users, dialect, 'enabled', true);
    await addTimestamps(users, dialect).execute();
    // User names are unique regardless of case: "Alice" and "alice" are the same person.
    await db.schema
      .createIndex('users_username_unique')
      .unique()
      .on('users')
      .expression(sql`lower(username)`)
      .execute();

    let licenses = addId(db.schema.createTable('licenses'), dialect)
      .addColumn('owner_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) > 0`))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull());
    licenses = addFlag(licenses, dialect, 'enabled', true);
    licenses = addLimits(licenses);
    licenses = addFlag(licenses, dialect, 'online', false);
    licenses = licenses
      .addColumn('last_seen_at', timeType(dialect))
      .addColumn('description', 'text')
      .addUniqueConstraint('licenses_owner_id_name_unique', ['owner_id', 'name']);
    await addTimestamps(licenses, dialect).execute();
    await db.schema.createIndex('licenses_key_id_unique').unique().on('licenses').column('key_id').execute();
    await db.schema.createIndex('licenses_owner_id').on('licenses').column('owner_id').execute();
  },
};
