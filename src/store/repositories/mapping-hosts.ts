// The host names of http and https mappings (table mapping_hosts): each exact or a wildcard of one
// label, each under a registered domain (the longest that fits), unique per protocol; an https
// host name must be covered by its domain's certificate, or (exact names only) lie under a domain
// whose certificate comes from ACME, which then orders one that covers it. Used by the mappings
// repository inside its write transactions.

import type { Kysely } from 'kysely';
import { isWildcard } from '../../acme/acme-status.ts';
import { MuonError } from '../../errors.ts';
import {
  baseDomainOf,
  certificateCovers,
  isHostnamePattern,
  normalizeHostname,
} from '../../http/host-names.ts';
import { uniqueViolation } from '../db-errors.ts';
import type { Database } from '../schema.ts';
import { timeValue, toBool, toNumber } from '../values.ts';
import { certificateInfo } from './domains.ts';

/** Host names one mapping may have. */
export const MAX_HOSTNAMES = 20;

export interface ResolvedHost {
  hostname: string;
  domainId: number;
}

function invalid(message: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `hostnames: ${message}`, { field: 'hostnames' });
}

/** Lower case, without a final dot, without repeats; throws INVALID_INPUT for a bad one. */
export function normalizeHostnames(hostnames: readonly string[]): string[] {
  if (hostnames.length > MAX_HOSTNAMES) throw invalid(`at most ${MAX_HOSTNAMES} host names per mapping`);
  const out: string[] = [];
  for (const raw of hostnames) {
    const name = typeof raw === 'string' ? normalizeHostname(raw) : '';
    if (!isHostnamePattern(name)) {
      throw invalid(
        `${String(raw).slice(0, 100)} is not a host name (app.example.com, or *.app.example.com)`,
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The domain of each host name; an https one must be covered by that domain's certificate. */
export async function resolveHosts(
  db: Kysely<Database>,
  protocol: 'http' | 'https',
  hostnames: readonly string[],
): Promise<ResolvedHost[]> {
  if (hostnames.length === 0) return [];
  const rows = await db.selectFrom('domains').select(['id', 'name', 'certificate_pem', 'acme']).execute();
  const byName = new Map(rows.map((row) => [row.name, row]));
  const resolved: ResolvedHost[] = [];
  for (const hostname of hostnames) {
    const domain = baseDomainOf(hostname, byName);
    if (!domain) throw invalid(`${hostname} is not under a registered domain (add the domain first)`);
    if (protocol === 'https' && toBool(domain.acme)) {
      if (isWildcard(hostname)) {
        throw invalid(
          `${hostname}: the domain ${domain.name} gets its certificate from ACME (HTTP-01), which cannot issue wildcard names`,
        );
      }
    } else if (protocol === 'https') {
      if (domain.certificate_pem === null) {
        throw invalid(`${hostname}: the domain ${domain.name} has no certificate, which https needs`);
      }
      const info = await certificateInfo(domain.certificate_pem);
      if (!certificateCovers(info.names, hostname)) {
        throw invalid(`${hostname} is not covered by the certificate of ${domain.name}`);
      }
    }
    resolved.push({ hostname, domainId: toNumber(domain.id) });
  }
  return resolved;
}

/** Replaces a mapping's host names. A name another mapping holds for the protocol: CONFLICT. */
export async function replaceHosts(
  db: Kysely<Database>,
  mappingId: number,
  protocol: 'http' | 'https',
  hosts: readonly ResolvedHost[],
  now: Date,
): Promise<void> {
  await db.deleteFrom('mapping_hosts').where('mapping_id', '=', mappingId).execute();
  for (const host of hosts) {
    try {
      await db
        .insertInto('mapping_hosts')
        .values({
          mapping_id: mappingId,
          domain_id: host.domainId,
          protocol,
          hostname: host.hostname,
          created_at: timeValue(now),
        })
        .execute();
    } catch (error) {
      if (uniqueViolation(error) === undefined) throw error;
      throw new MuonError(
        'MUON_ERR_CONFLICT',
        `hostnames: ${host.hostname} is already mapped for ${protocol}`,
        {
          field: 'hostnames',
          cause: error,
        },
      );
    }
  }
}

/** The host names of each mapping, in the order they were given. */
export async function hostnamesOf(
  db: Kysely<Database>,
  mappingIds: readonly number[],
): Promise<Map<number, string[]>> {
  const byMapping = new Map<number, string[]>();
  if (mappingIds.length === 0) return byMapping;
  const rows = await db
    .selectFrom('mapping_hosts')
    .select(['mapping_id', 'hostname'])
    .where('mapping_id', 'in', [...mappingIds])
    .orderBy('mapping_id')
    .orderBy('id')
    .execute();
  for (const row of rows) {
    const id = toNumber(row.mapping_id);
    const list = byMapping.get(id) ?? [];
    list.push(row.hostname);
    byMapping.set(id, list);
  }
  return byMapping;
}

/** The http-only fields of a mapping as stored (the password only as its hash). */
export interface HttpFields {
  protocol: string;
  hostnames: string[];
  addForwardedHeaders: boolean;
  rewriteHost: boolean;
  basicAuth: { username: string; passwordHash: string } | null;
}

/** Checks the http-only fields; returns the host names normalized. Throws INVALID_INPUT naming the field. */
export function checkHttpFields(m: HttpFields): string[] {
  const http = m.protocol === 'http' || m.protocol === 'https';
  const hostnames = normalizeHostnames(m.hostnames);
  if (!http) {
    if (hostnames.length > 0) throw invalid('only http and https mappings have host names');
    for (const field of ['addForwardedHeaders', 'rewriteHost'] as const) {
      if (m[field]) {
        throw new MuonError('MUON_ERR_INVALID_INPUT', `${field}: only for http and https mappings`, {
          field,
        });
      }
    }
    if (m.basicAuth) {
      throw new MuonError('MUON_ERR_INVALID_INPUT', 'basicAuth: only for http and https mappings', {
        field: 'basicAuth',
      });
    }
  }
  const auth = m.basicAuth;
  // Printable, no colon (it separates the name from the password in the header), 1–64 characters.
  const nameOk = (name: string) => /^[ -9;-~\u00a0-\uffff]{1,64}$/.test(name);
  if (auth && (!nameOk(auth.username) || !auth.passwordHash.startsWith('$argon2'))) {
    throw new MuonError(
      'MUON_ERR_INVALID_INPUT',
      'basicAuth: a user name of 1–64 characters without ":" and an argon2 password hash',
      { field: 'basicAuth' },
    );
  }
  return hostnames;
}

/** Fills in each mapping's host names (read from mapping_hosts). */
export async function withHostnames<T extends { id: number; hostnames: string[] }>(
  db: Kysely<Database>,
  mappings: T[],
): Promise<T[]> {
  const byMapping = await hostnamesOf(
    db,
    mappings.map((m) => m.id),
  );
  for (const m of mappings) m.hostnames = byMapping.get(m.id) ?? [];
  return mappings;
}
