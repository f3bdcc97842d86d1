// The store seen by the ACME certificate manager (src/acme/acme-store.ts): the acme repository,
// and a change after any committed change to a domain or to a license's mappings (either may add
// or remove a name the certificate must carry).

import type { AcmeStatus } from '../acme/acme-status.ts';
import type { AcmeAccount, AcmeDomain, AcmeStore } from '../acme/acme-store.ts';
import type { Store } from './store.ts';

export class StoreAcme implements AcmeStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  domains(): Promise<AcmeDomain[]> {
    return this.#store.acme.domains();
  }

  saveCertificate(
    domainId: number,
    pair: { cert: string; key: string },
    status: AcmeStatus,
  ): Promise<boolean> {
    return this.#store.acme.saveCertificate(domainId, pair, status);
  }

  saveStatus(domainId: number, status: AcmeStatus): Promise<void> {
    return this.#store.acme.saveStatus(domainId, status);
  }

  account(directoryUrl: string, newKey: () => Promise<string>): Promise<AcmeAccount> {
    return this.#store.acme.account(directoryUrl, newKey);
  }

  updateAccount(directoryUrl: string, fields: { accountUrl: string; email: string | null }): Promise<void> {
    return this.#store.acme.updateAccount(directoryUrl, fields);
  }

  onChange(listener: () => void): () => void {
    const licenses = this.#store.onLicenseChange(() => listener());
    const domains = this.#store.onDomainChange(listener);
    return () => {
      licenses();
      domains();
    };
  }
}
