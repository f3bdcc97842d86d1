// Version 6: the PROXY protocol header a TCP mapping's client writes to the target before the
// visitor's bytes (v1 text or v2 binary), so the service sees the visitor's real address. Null:
// none, as every mapping had before.

import { sql } from 'kysely';
import type { Migration } from './ddl.ts';

export const proxyProtocol: Migration = {
  version: 6,
  name: 'proxy protocol per mapping',
  async up(db) {
    await db.schema
      .alterTable('port_mappings')
      .addColumn('proxy_protocol', 'text', (c) => c.check(sql`proxy_protocol in ('v1', 'v2')`))
      .execute();
  },
};
