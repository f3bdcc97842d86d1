// What every repository runs on: the database (or the caller's transaction), the clock, and the
// change feed. Writes run in a transaction; the licenses a write touched are announced only once
// it has committed, so a listener that reads them back sees the new state.

import { type Kysely, sql, type Transaction } from 'kysely';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DialectName } from './connect.ts';
import { translate } from './db-errors.ts';
import type { Database } from './schema.ts';

export type LicenseChangeListener = (licenseId: number) => void;

/** In-process fan-out of "license N (or its owner, or its mappings) changed". */
export class LicenseChanges {
  readonly #listeners = new Set<LicenseChangeListener>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  on(listener: LicenseChangeListener): () => void {
    // A wrapper, so the same function subscribed twice gets two independent subscriptions.
    const entry: LicenseChangeListener = (id) => listener(id);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(licenseIds: Iterable<number>): void {
    for (const id of licenseIds) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(id);
        } catch (error) {
          // The change is committed; one failing listener must not hide it from the others.
          this.#log?.error({ err: error, licenseId: id }, 'license change listener failed');
        }
      }
    }
  }
}

export type Changed = (licenseId: number) => void;

/** In-process fan-out of "a domain changed" (its certificate, flags, or existence). */
export class DomainChanges {
  readonly #listeners = new Set<() => void>();

  on(listener: () => void): () => void {
    const entry = () => listener();
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Inside Store.transaction(): whether a domain changed, announced after the commit. */
export interface PendingDomains {
  changed: boolean;
}

export class StoreContext {
  readonly dialect: DialectName;
  readonly now: () => Date;
  readonly #db: Kysely<Database>;
  readonly #changes: LicenseChanges;
  readonly #domainChanges: DomainChanges;
  /** Set inside Store.transaction(): writes join it and their changes wait for its commit. */
  readonly #pending: Set<number> | undefined;
  readonly #pendingDomains: PendingDomains | undefined;
  readonly #isOpen: () => boolean;

  constructor(options: {
    db: Kysely<Database>;
    dialect: DialectName;
    now: () => Date;
    changes: LicenseChanges;
    domainChanges?: DomainChanges;
    isOpen: () => boolean;
    pending?: Set<number>;
    pendingDomains?: PendingDomains;
  }) {
    this.#db = options.db;
    this.dialect = options.dialect;
    this.now = options.now;
    this.#changes = options.changes;
    this.#isOpen = options.isOpen;
    this.#pending = options.pending;
    this.#domainChanges = options.domainChanges ?? new DomainChanges();
    this.#pendingDomains = options.pendingDomains;
  }

  /** A context bound to `trx`, collecting changes into `pending`. */
  withTransaction(
    trx: Transaction<Database>,
    pending: Set<number>,
    pendingDomains: PendingDomains = { changed: false },
  ): StoreContext {
    return new StoreContext({
      db: trx,
      dialect: this.dialect,
      now: this.now,
      changes: this.#changes,
      domainChanges: this.#domainChanges,
      isOpen: this.#isOpen,
      pending,
      pendingDomains,
    });
  }

  /**
   * Announces that a domain changed once the write that changed it has committed: call it after
   * the write returns (inside Store.transaction() it waits for that transaction's commit).
   */
  domainsChanged(): void {
    if (this.#pendingDomains) this.#pendingDomains.changed = true;
    else this.#domainChanges.emit();
  }

  /** Announces a domain change collected by a committed Store.transaction(). */
  announceDomains(pending: PendingDomains): void {
    if (pending.changed) this.#domainChanges.emit();
  }

  async read<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    this.#checkOpen();
    try {
      return await fn(this.#db);
    } catch (error) {
      throw translate(error);
    }
  }

  async write<T>(fn: (db: Kysely<Database>, changed: Changed) => Promise<T>): Promise<T> {
    this.#checkOpen();
    const pending = this.#pending;
    if (pending) {
      try {
        return await fn(this.#db, (id) => pending.add(id));
      } catch (error) {
        throw translate(error);
      }
    }
    const touched = new Set<number>();
    let result: T;
    try {
      result = await this.#db.transaction().execute((trx) => fn(trx, (id) => touched.add(id)));
    } catch (error) {
      throw translate(error);
    }
    this.#changes.emit(touched);
    return result;
  }

  /**
   * Serialises check-then-write sequences (port range overlap) between concurrent transactions
   * on PostgreSQL. SQLite needs nothing: it has one writer at a time.
   */
  async lock(db: Kysely<Database>, name: string): Promise<void> {
    if (this.dialect === 'postgres')
      await sql`select pg_advisory_xact_lock(hashtext(${`muon:${name}`}))`.execute(db);
  }

  /** Announces changes collected by a committed Store.transaction(). */
  announce(licenseIds: Iterable<number>): void {
    this.#changes.emit(licenseIds);
  }

  #checkOpen(): void {
    if (!this.#isOpen()) throw new MuonError('MUON_ERR_STORE_UNAVAILABLE', 'the store is closed');
  }
}
