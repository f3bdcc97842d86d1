// ACME in the store: the domains that get their certificate from an ACME authority, with the https
// host names under them; the certificates and statuses the certificate manager writes back; and
// one account per directory URL, whose private key is a secret that never leaves the store but
// for the manager. A stored certificate is checked like an upload and announced to the router.

import { type AcmeStatus, parseAcmeStatus } from '../../acme/acme-status.ts';
import type { AcmeAccount, AcmeDomain } from '../../acme/acme-store.ts';
import { checkCertificate } from '../../http/domain-certificate.ts';
import type { StoreContext } from '../context.ts';
import { uniqueViolation } from '../db-errors.ts';
import { timeValue, toNumber } from '../values.ts';
import { certificateInfo } from './domains.ts';

export class AcmeRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** The enabled domains with `acme` on, with their https host names. */
  async domains(): Promise<AcmeDomain[]> {
    const { rows, hosts } = await this.#ctx.read(async (db) => {
      const rows = await db
        .selectFrom('domains')
        .select(['id', 'name', 'certificate_pem', 'acme_status'])
        .where('acme', '=', true)
        .where('enabled', '=', true)
        .orderBy('id')
        .execute();
      const ids = rows.map((row) => toNumber(row.id));
      const hosts =
        ids.length === 0
          ? []
          : await db
              .selectFrom('mapping_hosts')
              .select(['domain_id', 'hostname'])
              .where('protocol', '=', 'https')
              .where('domain_id', 'in', ids)
              .orderBy('id')
              .execute();
      return { rows, hosts };
    });
    return Promise.all(
      rows.map(async (row): Promise<AcmeDomain> => {
        const id = toNumber(row.id);
        const info = row.certificate_pem === null ? null : await certificateInfo(row.certificate_pem);
        return {
          id,
          name: row.name,
          certificate: info && { names: info.names, notBefore: info.notBefore, notAfter: info.notAfter },
          httpsHostnames: hosts.filter((h) => toNumber(h.domain_id) === id).map((h) => h.hostname),
          status: parseAcmeStatus(row.acme_status),
        };
      }),
    );
  }

  async saveCertificate(
    domainId: number,
    pair: { cert: string; key: string },
    status: AcmeStatus,
  ): Promise<boolean> {
    const domain = await this.#ctx.read((db) =>
      db.selectFrom('domains').select('name').where('id', '=', domainId).executeTakeFirst(),
    );
    if (!domain) return false;
    await checkCertificate(pair.cert, pair.key, domain.name, this.#ctx.now());
    const updated = await this.#ctx.write((db) =>
      db
        .updateTable('domains')
        .set({
          certificate_pem: pair.cert,
          private_key_pem: pair.key,
          acme_status: JSON.stringify(status),
          updated_at: timeValue(this.#ctx.now()),
        })
        .where('id', '=', domainId)
        .where('acme', '=', true)
        .returning('id')
        .executeTakeFirst(),
    );
    if (updated) this.#ctx.domainsChanged();
    return updated !== undefined;
  }

  async saveStatus(domainId: number, status: AcmeStatus): Promise<void> {
    await this.#ctx.write((db) =>
      db
        .updateTable('domains')
        .set({ acme_status: JSON.stringify(status) })
        .where('id', '=', domainId)
        .where('acme', '=', true)
        .execute(),
    );
  }

  async account(directoryUrl: string, newKey: () => Promise<string>): Promise<AcmeAccount> {
    const existing = await this.#account(directoryUrl);
    if (existing) return existing;
    const keyPem = await newKey();
    const now = timeValue(this.#ctx.now());
    try {
      await this.#ctx.write((db) =>
        db
          .insertInto('acme_accounts')
          .values({
            directory_url: directoryUrl,
            key_pem: keyPem,
            account_url: null,
            email: null,
            created_at: now,
            updated_at: now,
          })
          .execute(),
      );
    } catch (error) {
      // Another caller created it first: theirs is the one.
      if (uniqueViolation(error) === undefined) throw error;
    }
    const created = await this.#account(directoryUrl);
    if (!created) throw new Error(`the ACME account for ${directoryUrl} was not stored`);
    return created;
  }

  async updateAccount(
    directoryUrl: string,
    fields: { accountUrl: string; email: string | null },
  ): Promise<void> {
    await this.#ctx.write((db) =>
      db
        .updateTable('acme_accounts')
        .set({
          account_url: fields.accountUrl,
          email: fields.email,
          updated_at: timeValue(this.#ctx.now()),
        })
        .where('directory_url', '=', directoryUrl)
        .execute(),
    );
  }

  async #account(directoryUrl: string): Promise<AcmeAccount | undefined> {
    const row = await this.#ctx.read((db) =>
      db
        .selectFrom('acme_accounts')
        .select(['key_pem', 'account_url', 'email'])
        .where('directory_url', '=', directoryUrl)
        .executeTakeFirst(),
    );
    return row && { keyPem: row.key_pem, accountUrl: row.account_url, email: row.email };
  }
}
