// Version 8: certificates from ACME. A domain may get its certificate from an ACME authority
// (flag `acme`) instead of an upload; the certificate manager keeps what it last found in
// `acme_status` (JSON, shown by the API). One account per directory URL, with its private key
// (a secret, generated once, never shown) and the account URL the authority gave it.

import { sql } from 'kysely';
import { addId, addTimestamps, type Migration } from './ddl.ts';

export const acmeCertificates: Migration = {
  version: 8,
  name: 'acme certificates',
  async up(db, dialect) {
    // One column per statement: SQLite adds a single column per ALTER TABLE.
    await db.schema
      .alterTable('domains')
      .addColumn('acme', dialect === 'postgres' ? 'boolean' : 'integer', (c) =>
        dialect === 'postgres'
          ? c.notNull().defaultTo(false)
          : c.notNull().defaultTo(0).check(sql`acme in (0, 1)`),
      )
      .execute();
    await db.schema.alterTable('domains').addColumn('acme_status', 'text').execute();

    const accounts = addId(db.schema.createTable('acme_accounts'), dialect)
      .addColumn('directory_url', 'text', (c) => c.notNull().unique().check(sql`length(directory_url) > 0`))
      .addColumn('key_pem', 'text', (c) => c.notNull())
      .addColumn('account_url', 'text')
      .addColumn('email', 'text');
    await addTimestamps(accounts, dialect).execute();
  },
};
