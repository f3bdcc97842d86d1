// What ACME means for one domain, decided from data alone: the names its certificate must carry
// (the domain and the exact host names of its https mappings; wildcards are skipped, HTTP-01
// cannot prove them), whether a new order is due, and the status the admin API shows. Pure.

import { certificateCovers } from '../http/host-names.ts';

export type AcmeState = 'pending' | 'valid' | 'failed';

/** The outcome of the certificate manager's last look at a domain, as stored and shown by the API. */
export interface AcmeStatus {
  /** pending: an order is due or under way; valid: the certificate covers `names` and is not due; failed: the last order failed. */
  state: AcmeState;
  /** The names the certificate is ordered for: the domain first, then its https host names. */
  names: string[];
  /** Wildcard https host names, which HTTP-01 cannot prove (not in the certificate). */
  skipped: string[];
  /** The last failure (kept after a later success, for reference). */
  lastError: { code: 'MUON_ERR_ACME_FAILED'; message: string; at: string } | null;
  /** Failed orders in a row (0 after a success). */
  failures: number;
  /** When a failed order is tried again (ISO time), unless the names change first. */
  retryAt: string | null;
  /** When the current certificate will be renewed (ISO time). */
  renewAfter: string | null;
  /** When ACME last issued the domain's certificate (ISO time). */
  issuedAt: string | null;
}

export const PENDING_STATUS: AcmeStatus = {
  state: 'pending',
  names: [],
  skipped: [],
  lastError: null,
  failures: 0,
  retryAt: null,
  renewAfter: null,
  issuedAt: null,
};

/** A stored status (JSON text), or the pending one for nothing or anything unreadable. */
export function parseAcmeStatus(text: string | null): AcmeStatus {
  if (text === null) return PENDING_STATUS;
  try {
    const value = JSON.parse(text) as Partial<AcmeStatus>;
    return { ...PENDING_STATUS, ...value };
  } catch {
    return PENDING_STATUS;
  }
}

export function isWildcard(name: string): boolean {
  return name.startsWith('*.');
}

/** The names to order for `domain`: the domain, then its exact https host names (sorted); wildcards aside. */
export function acmeNames(
  domain: string,
  httpsHostnames: readonly string[],
): { names: string[]; skipped: string[] } {
  const exact = new Set<string>();
  const skipped = new Set<string>();
  for (const name of httpsHostnames) {
    if (isWildcard(name)) skipped.add(name);
    else if (name !== domain) exact.add(name);
  }
  return { names: [domain, ...[...exact].sort()], skipped: [...skipped].sort() };
}

export type OrderReason = 'no certificate' | 'names changed' | 'renewal due';

/** The dates of a certificate that matter here. */
export interface CertificateDates {
  names: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

/**
 * Why a new certificate is needed, or undefined when the current one will do: none yet, one that
 * misses a name, or one whose renewal is due (renewAfter; `ours`: ACME issued it).
 */
export function orderReason(
  current: CertificateDates | null,
  names: readonly string[],
  now: Date,
  renewBeforeMs: number,
  ours: boolean,
): OrderReason | undefined {
  if (!current) return 'no certificate';
  if (!names.every((name) => certificateCovers(current.names, name))) return 'names changed';
  if (now.getTime() >= renewAfter(current, renewBeforeMs, ours).getTime()) return 'renewal due';
  return undefined;
}

/**
 * When a certificate is renewed: `renewBeforeMs` before it ends. One that ACME issued (`ours`) is
 * not renewed before half its lifetime has passed either, so a certificate that lives shorter than
 * the window is not ordered again at once, and again, into the authority's rate limits.
 */
export function renewAfter(
  current: Omit<CertificateDates, 'names'>,
  renewBeforeMs: number,
  ours: boolean,
): Date {
  const start = current.notBefore.getTime();
  const end = current.notAfter.getTime();
  return new Date(ours ? Math.max(end - renewBeforeMs, start + (end - start) / 2) : end - renewBeforeMs);
}

/** The delay before retry number `failures` (1, 2, …): doubling from `minMs`, at most `maxMs`. */
export function retryDelay(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
