// Domains: base domains under which http and https mappings get host names, each with an optional
// PEM certificate and key for HTTPS (uploaded, or obtained by ACME when `acme` is on) and a
// force-HTTPS flag. The key is a secret: it leaves the store only for the router
// (store-http-directory.ts), never in a Domain. An uploaded certificate is checked before it is
// stored (domain-certificate.ts) and must keep covering the https host names in use. A domain in
// use cannot be deleted. Changes are announced for the router and the certificate manager.

import type { Kysely, Selectable } from 'kysely';
import { type AcmeStatus, isWildcard, parseAcmeStatus } from '../../acme/acme-status.ts';
import { MuonError } from '../../errors.ts';
import {
  type CertificateInfo,
  checkCertificate,
  describeCertificate,
} from '../../http/domain-certificate.ts';
import { certificateCovers, isDomainName, normalizeHostname } from '../../http/host-names.ts';
import type { StoreContext } from '../context.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import { containsText, type Page, type PageRequest, pageOf } from '../page.ts';
import type { Database, DomainsTable } from '../schema.ts';
import { timeValue, toBool, toDate, toNumber } from '../values.ts';

export interface Domain {
  id: number;
  /** Lower case, e.g. example.com. */
  name: string;
  /** Plain-HTTP requests for names under it are redirected to HTTPS. */
  forceHttps: boolean;
  enabled: boolean;
  description: string | null;
  /** What the certificate says (never the key); null without one. */
  certificate: CertificateInfo | null;
  /** The certificate is obtained and renewed by ACME (HTTP-01), not uploaded. */
  acme: boolean;
  /** What the certificate manager last found (null unless `acme`). */
  acmeStatus: AcmeStatus | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewDomain {
  name: string;
  forceHttps?: boolean;
  enabled?: boolean;
  description?: string | null;
  /** PEM, leaf first then its chain; set together with privateKey, or both null. */
  certificate?: string | null;
  /** PEM private key of the leaf. */
  privateKey?: string | null;
  /** Get the certificate from ACME instead (not together with an upload). */
  acme?: boolean;
}

/** Everything but the name (host names under it depend on it). */
export type DomainPatch = Partial<Omit<NewDomain, 'name'>>;

export interface DomainFilter extends PageRequest {
  search?: string;
}

type Row = Selectable<DomainsTable>;

/** Certificate metadata by PEM text: describing one takes a parse, and lists show many. */
const described = new Map<string, Promise<CertificateInfo>>();

export function certificateInfo(pem: string): Promise<CertificateInfo> {
  let info = described.get(pem);
  if (!info) {
    if (described.size >= 256) described.clear();
    info = describeCertificate(pem);
    described.set(pem, info);
    info.catch(() => described.delete(pem));
  }
  return info;
}

async function toDomain(row: Row): Promise<Domain> {
  return {
    id: toNumber(row.id),
    name: row.name,
    forceHttps: toBool(row.force_https),
    enabled: toBool(row.enabled),
    description: row.description,
    certificate: row.certificate_pem === null ? null : await certificateInfo(row.certificate_pem),
    acme: toBool(row.acme),
    acmeStatus: toBool(row.acme) ? parseAcmeStatus(row.acme_status) : null,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function invalid(field: string, message: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `${field}: ${message}`, { field });
}

/** Both PEMs or neither; undefined in both means "keep". */
function keyPairOf(input: { certificate?: string | null; privateKey?: string | null }) {
  const { certificate, privateKey } = input;
  if (certificate === undefined && privateKey === undefined) return undefined;
  if (certificate == null && privateKey == null) return null;
  if (certificate == null) throw invalid('certificate', 'required with a private key');
  if (privateKey == null) throw invalid('privateKey', 'required with a certificate');
  return { certificate, privateKey };
}

function acmeManaged(): MuonError {
  return invalid(
    'certificate',
    'this domain gets its certificate from ACME (acme: true); set acme to false to upload one',
  );
}

async function domainRow(db: Kysely<Database>, id: number): Promise<Row | undefined> {
  return db.selectFrom('domains').selectAll().where('id', '=', id).executeTakeFirst();
}

export class DomainRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: NewDomain): Promise<Domain> {
    const name = normalizeHostname(input.name ?? '');
    if (!isDomainName(name)) throw invalid('name', 'must be a domain name such as example.com');
    const pair = keyPairOf(input);
    if (pair && input.acme) throw acmeManaged();
    if (pair) await checkCertificate(pair.certificate, pair.privateKey, name, this.#ctx.now());
    const now = timeValue(this.#ctx.now());
    const row = await this.#ctx.write(async (db) => {
      try {
        return await db
          .insertInto('domains')
          .values({
            name,
            certificate_pem: pair?.certificate ?? null,
            private_key_pem: pair?.privateKey ?? null,
            force_https: input.forceHttps ?? false,
            enabled: input.enabled ?? true,
            acme: input.acme ?? false,
            description: input.description ?? null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (uniqueViolation(error) !== undefined) {
          throw new MuonError('MUON_ERR_CONFLICT', `name: ${name} is already a domain`, { cause: error });
        }
        throw error;
      }
    });
    this.#ctx.domainsChanged();
    return toDomain(row);
  }

  async get(id: number): Promise<Domain | undefined> {
    const row = await this.#ctx.read((db) => domainRow(db, id));
    return row && toDomain(row);
  }

  async list(filter: DomainFilter = {}): Promise<Page<Domain>> {
    const page = await this.#ctx.read((db) => {
      let query = db.selectFrom('domains');
      if (filter.search) query = query.where(containsText('name', filter.search));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) => query.selectAll().orderBy('name').limit(limit).offset(offset).execute(),
        (row) => row,
      );
    });
    return { ...page, items: await Promise.all(page.items.map(toDomain)) };
  }

  async update(id: number, patch: DomainPatch): Promise<Domain> {
    const before = await this.#ctx.read((db) => domainRow(db, id));
    if (!before) throw new MuonError('MUON_ERR_NOT_FOUND', `domain ${id} does not exist`);
    const pair = keyPairOf(patch);
    const wasAcme = toBool(before.acme);
    const acme = patch.acme ?? wasAcme;
    if (acme && pair !== undefined) throw acmeManaged();
    const info = pair
      ? await checkCertificate(pair.certificate, pair.privateKey, before.name, this.#ctx.now())
      : null;
    const now = timeValue(this.#ctx.now());
    const row = await this.#ctx.write(async (db) => {
      if (pair !== undefined) await this.#checkHttpsHosts(db, id, info);
      if (acme && !wasAcme) await this.#checkNoWildcards(db, id, before.name);
      if (!acme && wasAcme && pair === undefined) {
        // Back to uploads: what ACME left must still serve the https names (or upload one now).
        const current = before.certificate_pem && (await certificateInfo(before.certificate_pem));
        await this.#checkHttpsHosts(db, id, current || null);
      }
      const row = await db
        .updateTable('domains')
        .set({
          ...(pair !== undefined && {
            certificate_pem: pair?.certificate ?? null,
            private_key_pem: pair?.privateKey ?? null,
          }),
          ...(patch.forceHttps !== undefined && { force_https: patch.forceHttps }),
          ...(patch.enabled !== undefined && { enabled: patch.enabled }),
          ...(patch.description !== undefined && { description: patch.description }),
          // A fresh start for the certificate manager whenever ACME is switched on or off.
          ...(acme !== wasAcme && { acme, acme_status: null }),
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `domain ${id} does not exist`);
      return row;
    });
    this.#ctx.domainsChanged();
    return toDomain(row);
  }

  async delete(id: number): Promise<void> {
    await this.#ctx.write(async (db) => {
      const used = await db
        .selectFrom('mapping_hosts')
        .select('hostname')
        .where('domain_id', '=', id)
        .limit(5)
        .execute();
      if (used.length > 0) {
        throw new MuonError(
          'MUON_ERR_CONFLICT',
          `domain ${id} is used by mapping host names (${used.map((u) => u.hostname).join(', ')})`,
        );
      }
      try {
        const row = await db.deleteFrom('domains').where('id', '=', id).returning('id').executeTakeFirst();
        if (!row) throw new MuonError('MUON_ERR_NOT_FOUND', `domain ${id} does not exist`);
      } catch (error) {
        if (isForeignKeyViolation(error)) {
          throw new MuonError('MUON_ERR_CONFLICT', `domain ${id} is used by mapping host names`, {
            cause: error,
          });
        }
        throw error;
      }
    });
    this.#ctx.domainsChanged();
  }

  /** ACME by HTTP-01 cannot issue wildcards: no wildcard https host name may rely on it. */
  async #checkNoWildcards(db: Kysely<Database>, id: number, name: string): Promise<void> {
    const wildcards = (await httpsHostnames(db, id)).filter(isWildcard);
    if (wildcards.length === 0) return;
    throw invalid(
      'acme',
      `https mappings use wildcard names under ${name} (${wildcards.slice(0, 5).join(', ')}), which ACME ` +
        'cannot issue by HTTP-01: keep uploading a wildcard certificate, or change those mappings first',
    );
  }

  /** A new certificate (or none) must still serve every https host name under the domain. */
  async #checkHttpsHosts(db: Kysely<Database>, id: number, info: CertificateInfo | null): Promise<void> {
    const uncovered = (await httpsHostnames(db, id)).filter(
      (h) => !info || !certificateCovers(info.names, h),
    );
    if (uncovered.length === 0) return;
    throw invalid(
      'certificate',
      info
        ? `does not cover ${uncovered.slice(0, 5).join(', ')}, which https mappings use`
        : `https mappings use this domain (${uncovered.slice(0, 5).join(', ')}): it needs a certificate`,
    );
  }
}

/** The https host names of mappings under domain `id`. */
async function httpsHostnames(db: Kysely<Database>, id: number): Promise<string[]> {
  const hosts = await db
    .selectFrom('mapping_hosts')
    .select('hostname')
    .where('domain_id', '=', id)
    .where('protocol', '=', 'https')
    .execute();
  return hosts.map((h) => h.hostname);
}
