// The store suite: every test runs on the dialect it is given, so SQLite, PGlite and a real
// PostgreSQL server are held to exactly the same behaviour.

import { after, describe } from 'node:test';
import { acmeTests } from './acme.ts';
import { directoryTests } from './directory.ts';
import { domainTests } from './domains.ts';
import { StoreHarness, type TestDialect } from './harness.ts';
import { lifecycleTests } from './lifecycle.ts';
import { mappingTests, securityGroupTests } from './mappings-security.ts';
import { migrationTests } from './migrations.ts';
import { portTests } from './ports.ts';
import { logTests, trafficTests } from './traffic-logs.ts';
import { licenseTests, userTests } from './users-licenses.ts';

export function storeSuite(dialect: TestDialect): void {
  describe(`store on ${dialect}`, () => {
    const h = new StoreHarness(dialect);
    after(() => h.dispose());
    migrationTests(h);
    lifecycleTests(h);
    userTests(h);
    licenseTests(h);
    mappingTests(h);
    securityGroupTests(h);
    portTests(h);
    trafficTests(h);
    logTests(h);
    directoryTests(h);
    domainTests(h);
    acmeTests(h);
  });
}
