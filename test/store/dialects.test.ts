// Runs the store suite on SQLite and PGlite always, and on the PostgreSQL server named by
// MUON_TEST_PG_URL when it is set (scripts/postgres.sh provides one). MUON_TEST_STORE=<dialect>
// runs only that one.

import { dialectFromEnv, type TestDialect } from './suite/harness.ts';
import { storeSuite } from './suite/index.ts';

const dialects: TestDialect[] = process.env.MUON_TEST_STORE
  ? [dialectFromEnv()]
  : ['sqlite', 'pglite', ...(process.env.MUON_TEST_PG_URL ? (['postgres'] as const) : [])];

for (const dialect of dialects) storeSuite(dialect);
