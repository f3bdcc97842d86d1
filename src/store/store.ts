// The persistent store: opens the database, migrates it to this build's schema, and offers one
// repository per entity. Writes that change what a client may do (licenses, their owners, their
// mappings) are announced through onLicenseChange() once committed; StoreDirectory turns that
// into the tunnel core's Directory. The announcements are in-process only: several servers on
// one PostgreSQL database would need LISTEN/NOTIFY to hear each other's changes.

import type { Kysely } from 'kysely';
import { MuonError } from '../errors.ts';
import {
  type Connection,
  type ConnectOptions,
  connect,
  type DialectName,
  type StoreKind,
} from './connect.ts';
import { DomainChanges, type LicenseChangeListener, LicenseChanges, StoreContext } from './context.ts';
import { translate } from './db-errors.ts';
import { type MigrateResult, migrate } from './migrator.ts';
import { AcmeRepository } from './repositories/acme.ts';
import { ConnectionLogRepository } from './repositories/connection-log.ts';
import { DomainRepository } from './repositories/domains.ts';
import { LicenseRepository } from './repositories/licenses.ts';
import { LoginLogRepository } from './repositories/login-log.ts';
import { MappingRepository } from './repositories/mappings.ts';
import { PortGroupRepository } from './repositories/port-groups.ts';
import { PortPoolRepository } from './repositories/port-pool.ts';
import { SecurityGroupRepository } from './repositories/security-groups.ts';
import { TrafficRepository } from './repositories/traffic.ts';
import { UserRepository } from './repositories/users.ts';
import type { Database } from './schema.ts';

export interface StoreOptions extends ConnectOptions {
  /** The clock for created/updated times (tests). */
  now?: () => Date;
}

export interface Repositories {
  readonly users: UserRepository;
  readonly licenses: LicenseRepository;
  readonly mappings: MappingRepository;
  readonly securityGroups: SecurityGroupRepository;
  readonly portPool: PortPoolRepository;
  readonly portGroups: PortGroupRepository;
  readonly traffic: TrafficRepository;
  readonly connections: ConnectionLogRepository;
  readonly logins: LoginLogRepository;
  readonly domains: DomainRepository;
  readonly acme: AcmeRepository;
}

function repositories(ctx: StoreContext): Repositories {
  return {
    users: new UserRepository(ctx),
    licenses: new LicenseRepository(ctx),
    mappings: new MappingRepository(ctx),
    securityGroups: new SecurityGroupRepository(ctx),
    portPool: new PortPoolRepository(ctx),
    portGroups: new PortGroupRepository(ctx),
    traffic: new TrafficRepository(ctx),
    connections: new ConnectionLogRepository(ctx),
    logins: new LoginLogRepository(ctx),
    domains: new DomainRepository(ctx),
    acme: new AcmeRepository(ctx),
  };
}

export class Store implements Repositories, AsyncDisposable {
  readonly kind: StoreKind;
  readonly dialect: DialectName;
  /** Where the data lives, without credentials. */
  readonly location: string;
  /** What the migrations did at open. */
  readonly migration: MigrateResult;
  readonly users: UserRepository;
  readonly licenses: LicenseRepository;
  readonly mappings: MappingRepository;
  readonly securityGroups: SecurityGroupRepository;
  readonly portPool: PortPoolRepository;
  readonly portGroups: PortGroupRepository;
  readonly traffic: TrafficRepository;
  readonly connections: ConnectionLogRepository;
  readonly logins: LoginLogRepository;
  readonly domains: DomainRepository;
  readonly acme: AcmeRepository;
  readonly #connection: Connection;
  readonly #ctx: StoreContext;
  readonly #changes: LicenseChanges;
  readonly #domainChanges = new DomainChanges();
  #closing: Promise<void> | undefined;

  constructor(connection: Connection, migration: MigrateResult, options: StoreOptions) {
    this.#connection = connection;
    this.kind = connection.kind;
    this.dialect = connection.dialect;
    this.location = connection.location;
    this.migration = migration;
    this.#changes = new LicenseChanges(options.log);
    this.#ctx = new StoreContext({
      db: connection.db,
      dialect: connection.dialect,
      now: options.now ?? (() => new Date()),
      changes: this.#changes,
      domainChanges: this.#domainChanges,
      isOpen: () => this.#closing === undefined,
    });
    const repos = repositories(this.#ctx);
    this.users = repos.users;
    this.licenses = repos.licenses;
    this.mappings = repos.mappings;
    this.securityGroups = repos.securityGroups;
    this.portPool = repos.portPool;
    this.portGroups = repos.portGroups;
    this.traffic = repos.traffic;
    this.connections = repos.connections;
    this.logins = repos.logins;
    this.domains = repos.domains;
    this.acme = repos.acme;
  }

  /** The query builder itself, for reports the repositories do not offer. Writes made here are not announced. */
  get db(): Kysely<Database> {
    return this.#connection.db;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Calls `listener` with a license id after a committed change to that license, its owner, its
   * mappings or the security groups they use (not for its online flag).
   */
  onLicenseChange(listener: LicenseChangeListener): () => void {
    return this.#changes.on(listener);
  }

  /** Calls `listener` after a committed change to a domain (created, changed, deleted). */
  onDomainChange(listener: () => void): () => void {
    return this.#domainChanges.on(listener);
  }

  /**
   * Runs `fn` in one transaction with repositories bound to it; changes are announced after the
   * commit, and nothing is if it rolls back. Inside, use only the repositories given to `fn`
   * (on SQLite the store's own would wait for the transaction to end). A write that fails inside
   * spoils the whole transaction on PostgreSQL: let its error end the transaction.
   */
  async transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T> {
    if (this.closed) throw new MuonError('MUON_ERR_STORE_UNAVAILABLE', 'the store is closed');
    const pending = new Set<number>();
    const pendingDomains = { changed: false };
    let result: T;
    try {
      result = await this.#connection.db
        .transaction()
        .execute((trx) => fn(repositories(this.#ctx.withTransaction(trx, pending, pendingDomains))));
    } catch (error) {
      throw translate(error);
    }
    this.#ctx.announce(pending);
    this.#ctx.announceDomains(pendingDomains);
    return result;
  }

  close(): Promise<void> {
    this.#closing ??= this.#connection.close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Opens the store (SQLite in `<dataDir>/muon.db` unless `url` says otherwise) and migrates it. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const connection = await connect(options);
  let migration: MigrateResult;
  try {
    migration = await migrate(connection.db, connection.dialect, options.now ? { now: options.now } : {});
  } catch (error) {
    await connection.close().catch(() => {});
    throw translate(error);
  }
  if (migration.applied.length > 0) {
    options.log?.info(
      { store: connection.location, from: migration.from, to: migration.to },
      'store schema migrated',
    );
  }
  return new Store(connection, migration, options);
}
