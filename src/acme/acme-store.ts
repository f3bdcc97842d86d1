// What the certificate manager needs from the store, and the narrow interface it learns it through:
// the domains that get their certificate from ACME (with the https host names under them), a place
// for each domain's certificate and status, and the ACME account. The store implements it
// (src/store/store-acme.ts); the manager never imports the database.

import type { AcmeStatus, CertificateDates } from './acme-status.ts';

export interface AcmeDomain {
  id: number;
  /** Lower case, e.g. example.com. */
  name: string;
  /** The certificate served now (uploaded or from ACME): its DNS names and validity; null without one. */
  certificate: CertificateDates | null;
  /** Every https host name under the domain (exact or wildcard), whatever its mapping's state. */
  httpsHostnames: string[];
  /** What the manager stored last (pending when nothing yet). */
  status: AcmeStatus;
}

export interface AcmeAccount {
  /** PEM private key of the account. A secret: never logged, never shown. */
  keyPem: string;
  accountUrl: string | null;
  email: string | null;
}

export interface AcmeStore {
  /** The enabled domains with `acme` on. */
  domains(): Promise<AcmeDomain[]>;
  /**
   * Stores a new certificate and key (checked like an upload) with the status that goes with it,
   * and announces the change (the HTTPS port serves it to the next visitor). False when the domain
   * is gone or no longer uses ACME.
   */
  saveCertificate(
    domainId: number,
    pair: { cert: string; key: string },
    status: AcmeStatus,
  ): Promise<boolean>;
  /** Stores a status alone (not announced: nothing the router serves changes). */
  saveStatus(domainId: number, status: AcmeStatus): Promise<void>;
  /** The account for a directory, created with `newKey()` the first time (once, even when called concurrently). */
  account(directoryUrl: string, newKey: () => Promise<string>): Promise<AcmeAccount>;
  /** Records what the authority said about the account. */
  updateAccount(directoryUrl: string, fields: { accountUrl: string; email: string | null }): Promise<void>;
  /** Calls `listener` after any change that may add or remove a name (domains, mappings). Returns an unsubscribe. */
  onChange(listener: () => void): () => void;
}
