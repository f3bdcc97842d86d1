// Licenses declared in the server's YAML (`licenses:`) are mirrored into the store at every start,
// owned by a built-in user `config` (created if absent, without a password). The YAML is the
// truth for that user's licenses: declared ones are created or brought in line, undeclared ones
// are deleted. Running it again with the same YAML changes nothing and announces nothing.

import { MuonError } from '../errors.ts';
import type { LicenseRecord, TrafficLimits } from '../server/directory.ts';
import type { License } from './repositories/licenses.ts';
import type { Mapping } from './repositories/mapping-records.ts';
import type { Repositories, Store } from './store.ts';

export const CONFIG_USERNAME = 'config';

export interface DeclaredResult {
  licenses: { created: number; updated: number; deleted: number; unchanged: number };
  mappings: { created: number; updated: number; deleted: number; unchanged: number };
}

function named(license: LicenseRecord, error: unknown): unknown {
  if (!(error instanceof MuonError)) return error;
  return new MuonError(error.code, `licenses "${license.name}": ${error.message}`, { cause: error });
}

/** A record's limits as the repositories take them: absent means unlimited (null). */
function limitsOf(record: TrafficLimits): Required<TrafficLimits> {
  return {
    uploadLimit: record.uploadLimit ?? null,
    downloadLimit: record.downloadLimit ?? null,
    maxConnections: record.maxConnections ?? null,
  };
}

function sameLimits(a: TrafficLimits, b: TrafficLimits): boolean {
  const x = limitsOf(a);
  const y = limitsOf(b);
  return (
    x.uploadLimit === y.uploadLimit &&
    x.downloadLimit === y.downloadLimit &&
    x.maxConnections === y.maxConnections
  );
}

/** A declared mapping is matched to a stored one by protocol and public port (UDP ports are their own). */
function mappingKey(m: { protocol: string; publicPort: number | null }): string {
  return `${m.protocol}:${m.publicPort}`;
}

async function configUser(tx: Repositories): Promise<number> {
  const existing = await tx.users.getByUsername(CONFIG_USERNAME);
  if (existing) return existing.id;
  const created = await tx.users.create({ username: CONFIG_USERNAME, passwordHash: null, role: 'user' });
  return created.id;
}

export async function applyDeclaredLicenses(
  store: Store,
  declared: readonly LicenseRecord[],
): Promise<DeclaredResult> {
  const result: DeclaredResult = {
    licenses: { created: 0, updated: 0, deleted: 0, unchanged: 0 },
    mappings: { created: 0, updated: 0, deleted: 0, unchanged: 0 },
  };
  await store.transaction(async (tx) => {
    const ownerId = await configUser(tx);
    const existing = new Map((await tx.licenses.listByOwner(ownerId)).map((l) => [l.name, l]));
    const wanted = new Map(declared.map((d) => [d.name, d]));

    // Removals first, so a port or key that moves between declared licenses is free when needed.
    for (const [name, license] of existing) {
      if (wanted.has(name)) continue;
      await tx.licenses.delete(license.id);
      existing.delete(name);
      result.licenses.deleted++;
    }
    const kept = new Map<string, Mapping[]>();
    for (const [name, license] of existing) {
      const keys = new Set((wanted.get(name)?.mappings ?? []).map(mappingKey));
      const mappings: Mapping[] = [];
      for (const mapping of await tx.mappings.listByLicense(license.id)) {
        if (mapping.publicPort !== null && keys.has(mappingKey(mapping))) {
          mappings.push(mapping);
        } else {
          await tx.mappings.delete(mapping.id);
          result.mappings.deleted++;
        }
      }
      kept.set(name, mappings);
    }

    for (const license of declared) {
      try {
        const id = await upsertLicense(tx, ownerId, license, existing.get(license.name), result);
        await upsertMappings(tx, id, license, kept.get(license.name) ?? [], result);
      } catch (error) {
        throw named(license, error);
      }
    }
  });
  return result;
}

async function upsertLicense(
  tx: Repositories,
  ownerId: number,
  declared: LicenseRecord,
  current: License | undefined,
  result: DeclaredResult,
): Promise<number> {
  if (!current) {
    const created = await tx.licenses.create({
      ownerId,
      name: declared.name,
      key: declared.key,
      enabled: declared.enabled,
      ...limitsOf(declared),
    });
    result.licenses.created++;
    return created.id;
  }
  let changed = false;
  if (current.key !== declared.key) {
    await tx.licenses.resetKey(current.id, declared.key);
    changed = true;
  }
  if (current.enabled !== declared.enabled || !sameLimits(current, declared)) {
    await tx.licenses.update(current.id, { enabled: declared.enabled, ...limitsOf(declared) });
    changed = true;
  }
  if (changed) result.licenses.updated++;
  else result.licenses.unchanged++;
  return current.id;
}

async function upsertMappings(
  tx: Repositories,
  licenseId: number,
  declared: LicenseRecord,
  current: readonly Mapping[],
  result: DeclaredResult,
): Promise<void> {
  const byKey = new Map(current.map((m) => [mappingKey(m), m]));
  for (const m of declared.mappings) {
    const have = byKey.get(mappingKey(m));
    const proxyProtocol = m.proxyProtocol ?? null;
    if (!have) {
      await tx.mappings.create({
        licenseId,
        protocol: m.protocol,
        publicPort: m.publicPort,
        targetHost: m.targetHost,
        targetPort: m.targetPort,
        enabled: m.enabled,
        proxyProtocol,
        ...limitsOf(m),
      });
      result.mappings.created++;
    } else if (
      have.targetHost !== m.targetHost ||
      have.targetPort !== m.targetPort ||
      have.enabled !== m.enabled ||
      have.proxyProtocol !== proxyProtocol ||
      !sameLimits(have, m)
    ) {
      await tx.mappings.update(have.id, {
        targetHost: m.targetHost,
        targetPort: m.targetPort,
        enabled: m.enabled,
        proxyProtocol,
        ...limitsOf(m),
      });
      result.mappings.updated++;
    } else {
      result.mappings.unchanged++;
    }
  }
}
