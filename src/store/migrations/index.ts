// Every migration, oldest first. Append new ones; never edit or reorder released ones.

import { usersAndLicenses } from './001-users-licenses.ts';
import { mappings } from './002-mappings.ts';
import { portPool } from './003-port-pool.ts';
import { trafficAndLogs } from './004-traffic-logs.ts';
import { trafficControl } from './005-traffic-control.ts';
import { proxyProtocol } from './006-proxy-protocol.ts';
import { httpDomains } from './007-http-domains.ts';
import { acmeCertificates } from './008-acme.ts';
import type { Migration } from './ddl.ts';

export type { Migration } from './ddl.ts';

export const MIGRATIONS: readonly Migration[] = [
  usersAndLicenses,
  mappings,
  portPool,
  trafficAndLogs,
  trafficControl,
  proxyProtocol,
  httpDomains,
  acmeCertificates,
];

export const LATEST_VERSION = MIGRATIONS.length;
