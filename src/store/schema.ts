// The tables of the current schema as Kysely sees them (snake_case, as in the database).
// Migrations create them; repositories map rows to camelCase records. Column types are the
// union of what SQLite and PostgreSQL return (see values.ts for the conversions).

import type { ColumnType, Generated } from 'kysely';

/** Written as a boolean (0/1 in SQLite), read as boolean or 0/1. */
export type Flag = ColumnType<boolean | number, boolean, boolean>;
/** Written as ISO-8601 UTC text, read as text (SQLite) or Date (PostgreSQL timestamptz). */
export type Time = ColumnType<Date | string, string, string>;
export type NullableTime = ColumnType<Date | string | null, string | null, string | null>;
/** A 64-bit integer; read it through toNumber() or, for counters, select it as text. */
export type Int8 = ColumnType<number | bigint | string, bigint | number, bigint | number>;
export type NullableInt8 = ColumnType<
  number | bigint | string | null,
  bigint | number | null,
  bigint | number | null
>;

export type Role = 'admin' | 'user';
export type Protocol = 'tcp' | 'udp' | 'http' | 'https';
export type PortFamily = 'tcp' | 'udp';
export type RuleAction = 'allow' | 'deny';
export type ProxyProtocolVersion = 'v1' | 'v2';
export type Granularity = 'minute' | 'hour' | 'day' | 'month';
export type AssignmentScope = 'global' | 'user' | 'license';

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: Time;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  /** argon2id hash; null for users that cannot log in (the built-in `config` user). */
  password_hash: string | null;
  role: Role;
  enabled: Flag;
  created_at: Time;
  updated_at: Time;
}

export interface LicensesTable {
  id: Generated<number>;
  owner_id: number;
  name: string;
  key: string;
  key_id: string;
  enabled: Flag;
  upload_limit: NullableInt8;
  download_limit: NullableInt8;
  /** Concurrent visitor connections over all the license's mappings; null = unlimited. */
  max_connections: number | null;
  online: Flag;
  last_seen_at: NullableTime;
  description: string | null;
  created_at: Time;
  updated_at: Time;
}

export interface SecurityGroupsTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  /** What a visitor no rule matches gets. */
  default_action: ColumnType<RuleAction, RuleAction | undefined, RuleAction>;
  created_at: Time;
  updated_at: Time;
}

export interface SecurityGroupRulesTable {
  id: Generated<number>;
  group_id: number;
  action: RuleAction;
  cidr: string;
  priority: number;
  description: string | null;
  created_at: Time;
  updated_at: Time;
}

export interface PortMappingsTable {
  id: Generated<number>;
  license_id: number;
  protocol: Protocol;
  port_family: PortFamily;
  public_port: number | null;
  domain: string | null;
  target_host: string;
  target_port: number;
  enabled: Flag;
  upload_limit: NullableInt8;
  download_limit: NullableInt8;
  max_connections: number | null;
  security_group_id: number | null;
  /** (version 6) The PROXY protocol header written to a TCP target first; null = none. */
  proxy_protocol: ColumnType<
    ProxyProtocolVersion | null,
    ProxyProtocolVersion | null | undefined,
    ProxyProtocolVersion | null
  >;
  /** (version 7) http/https: replace X-Forwarded-For/-Proto/-Host with what the server saw. */
  add_forwarded_headers: ColumnType<boolean | number, boolean | undefined, boolean>;
  /** (version 7) http/https: send Host as target_host:target_port. */
  rewrite_host: ColumnType<boolean | number, boolean | undefined, boolean>;
  /** (version 7) http/https basic auth: both set or both null; the hash is argon2id. */
  basic_auth_username: ColumnType<string | null, string | null | undefined, string | null>;
  basic_auth_hash: ColumnType<string | null, string | null | undefined, string | null>;
  description: string | null;
  created_at: Time;
  updated_at: Time;
}

/** (version 7) A base domain for http/https host names, with its certificate and key for HTTPS. */
export interface DomainsTable {
  id: Generated<number>;
  /** Lower case, unique. */
  name: string;
  certificate_pem: string | null;
  /** A secret: read only to serve TLS. */
  private_key_pem: string | null;
  force_https: Flag;
  enabled: Flag;
  description: string | null;
  created_at: Time;
  updated_at: Time;
  /** (version 8) The certificate comes from ACME (the certificate manager), not an upload. */
  acme: ColumnType<boolean | number, boolean | undefined, boolean>;
  /** (version 8) The certificate manager's last findings, JSON (src/acme/acme-status.ts). */
  acme_status: ColumnType<string | null, string | null | undefined, string | null>;
}

/** (version 8) An ACME account, one per directory URL. */
export interface AcmeAccountsTable {
  id: Generated<number>;
  directory_url: string;
  /** A secret: the account's private key (PEM), generated once. */
  key_pem: string;
  account_url: string | null;
  email: string | null;
  created_at: Time;
  updated_at: Time;
}

/** (version 7) A host name of an http/https mapping (exact or `*.` wildcard), unique per protocol. */
export interface MappingHostsTable {
  id: Generated<number>;
  mapping_id: number;
  domain_id: number;
  protocol: 'http' | 'https';
  hostname: string;
  created_at: Time;
}

export interface PortGroupsTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  created_at: Time;
  updated_at: Time;
}

export interface PortPoolTable {
  id: Generated<number>;
  group_id: number | null;
  port_start: number;
  port_end: number;
  description: string | null;
  created_at: Time;
  updated_at: Time;
}

export interface PortGroupAssignmentsTable {
  id: Generated<number>;
  group_id: number;
  scope: AssignmentScope;
  user_id: number | null;
  license_id: number | null;
  created_at: Time;
  updated_at: Time;
}

export interface TrafficStatsTable {
  mapping_id: number;
  license_id: number;
  granularity: Granularity;
  bucket_start: Time;
  bytes_in: Int8;
  bytes_out: Int8;
}

export interface ClientConnectionsTable {
  id: Generated<number>;
  license_id: number | null;
  license_name: string;
  remote_address: string;
  connected_at: Time;
  disconnected_at: NullableTime;
  close_code: string | null;
}

export interface AdminLoginsTable {
  id: Generated<number>;
  user_id: number | null;
  username: string;
  remote_address: string;
  success: Flag;
  reason: string | null;
  created_at: Time;
}

export interface Database {
  muon_migrations: MigrationsTable;
  users: UsersTable;
  licenses: LicensesTable;
  security_groups: SecurityGroupsTable;
  security_group_rules: SecurityGroupRulesTable;
  port_mappings: PortMappingsTable;
  port_groups: PortGroupsTable;
  port_pool: PortPoolTable;
  port_group_assignments: PortGroupAssignmentsTable;
  traffic_stats: TrafficStatsTable;
  client_connections: ClientConnectionsTable;
  admin_logins: AdminLoginsTable;
  domains: DomainsTable;
  mapping_hosts: MappingHostsTable;
  acme_accounts: AcmeAccountsTable;
}
