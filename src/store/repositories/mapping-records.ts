// A port mapping as the store hands it out (Mapping), what creating or changing one takes
// (NewMapping, MappingPatch), and the conversion between those and rows of the port_mappings
// table (toMapping, columnsOf). A mapping's protocol decides its port family.

import type { Selectable } from 'kysely';
import type { PortFamily, PortMappingsTable, Protocol, ProxyProtocolVersion } from '../schema.ts';
import { toBool, toDate, toNumber, toNumberOrNull } from '../values.ts';

export interface Mapping {
  id: number;
  licenseId: number;
  protocol: Protocol;
  /** Null only for an http/https mapping reached by its domain alone. */
  publicPort: number | null;
  domain: string | null;
  targetHost: string;
  targetPort: number;
  enabled: boolean;
  /** Bytes per second from visitors towards the target, over all connections; null = unlimited. */
  uploadLimit: number | null;
  /** Bytes per second from the target back to visitors, over all connections; null = unlimited. */
  downloadLimit: number | null;
  /** Visitor connections open at once; null = unlimited. */
  maxConnections: number | null;
  securityGroupId: number | null;
  /** TCP: the PROXY protocol header the client writes to the target first; null = none. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** http/https: the names it is reached by on the shared ports (exact, or `*.` one label). */
  hostnames: string[];
  /** http/https: X-Forwarded-For/-Proto/-Host carry what the server saw. */
  addForwardedHeaders: boolean;
  /** http/https: Host is rewritten to targetHost:targetPort. */
  rewriteHost: boolean;
  /** http/https: the user name visitors must give (the password is stored only as a hash). */
  basicAuth: { username: string } | null;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewMapping {
  licenseId: number;
  protocol?: Protocol;
  publicPort?: number | null;
  domain?: string | null;
  targetHost: string;
  targetPort: number;
  enabled?: boolean;
  uploadLimit?: number | null;
  downloadLimit?: number | null;
  maxConnections?: number | null;
  securityGroupId?: number | null;
  proxyProtocol?: ProxyProtocolVersion | null;
  /** http/https: replaces the host names (the first is also stored as `domain`). */
  hostnames?: string[];
  /** http/https; default true for them. */
  addForwardedHeaders?: boolean;
  rewriteHost?: boolean;
  /** http/https: an argon2id hash, never the password itself. */
  basicAuth?: { username: string; passwordHash: string } | null;
  description?: string | null;
}

/** Everything but the license: a mapping does not move between licenses (its traffic history would). */
export type MappingPatch = Partial<Omit<NewMapping, 'licenseId'>>;

/** The complete mapping as it will be stored. */
export type MappingFields = Required<Omit<NewMapping, 'licenseId'>>;

export type MappingRow = Selectable<PortMappingsTable>;

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'http', 'https'];
export const PROXY_PROTOCOL_VERSIONS: readonly ProxyProtocolVersion[] = ['v1', 'v2'];

export function portFamily(protocol: Protocol): PortFamily {
  return protocol === 'udp' ? 'udp' : 'tcp';
}

export function isHttp(protocol: Protocol): protocol is 'http' | 'https' {
  return protocol === 'http' || protocol === 'https';
}

export function toMapping(row: MappingRow): Mapping {
  return {
    id: toNumber(row.id),
    licenseId: toNumber(row.license_id),
    protocol: row.protocol,
    publicPort: toNumberOrNull(row.public_port),
    domain: row.domain,
    targetHost: row.target_host,
    targetPort: toNumber(row.target_port),
    enabled: toBool(row.enabled),
    uploadLimit: toNumberOrNull(row.upload_limit),
    downloadLimit: toNumberOrNull(row.download_limit),
    maxConnections: toNumberOrNull(row.max_connections),
    securityGroupId: toNumberOrNull(row.security_group_id),
    proxyProtocol: row.proxy_protocol ?? null,
    hostnames: [],
    addForwardedHeaders: toBool(row.add_forwarded_headers),
    rewriteHost: toBool(row.rewrite_host),
    basicAuth: row.basic_auth_username === null ? null : { username: row.basic_auth_username },
    description: row.description,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** The table's columns for a mapping's fields (shared by insert and update). */
export function columnsOf(m: MappingFields) {
  return {
    protocol: m.protocol,
    port_family: portFamily(m.protocol),
    public_port: m.publicPort,
    domain: m.domain,
    target_host: m.targetHost,
    target_port: m.targetPort,
    enabled: m.enabled,
    upload_limit: m.uploadLimit,
    download_limit: m.downloadLimit,
    max_connections: m.maxConnections,
    security_group_id: m.securityGroupId,
    proxy_protocol: m.proxyProtocol,
    add_forwarded_headers: m.addForwardedHeaders,
    rewrite_host: m.rewriteHost,
    basic_auth_username: m.basicAuth?.username ?? null,
    basic_auth_hash: m.basicAuth?.passwordHash ?? null,
    description: m.description,
  };
}
