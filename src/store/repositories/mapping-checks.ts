// What a mapping must satisfy before it is written (INVALID_INPUT naming the field; the http/https
// fields are checked by mapping-hosts.ts), and what a write the database refused means: a public
// port, domain or host name already mapped (CONFLICT, PORT_CONFLICT), or a license or security
// group that does not exist (NOT_FOUND).

import { MuonError } from '../../errors.ts';
import { isForeignKeyViolation, uniqueViolation } from '../db-errors.ts';
import type { Protocol } from '../schema.ts';
import { checkMaxConnections } from './licenses.ts';
import { checkHttpFields } from './mapping-hosts.ts';
import { type MappingFields, PROTOCOLS, PROXY_PROTOCOL_VERSIONS, portFamily } from './mapping-records.ts';

function invalid(message: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', message);
}

function checkPort(field: string, port: number | null | undefined): void {
  if (port == null) return;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw invalid(`${field}: must be a port from 1 to 65535`);
}

/**
 * The mapping as it will be stored (domain and host names normalized); throws INVALID_INPUT naming
 * the field.
 */
export function validated(m: MappingFields): MappingFields {
  if (!PROTOCOLS.includes(m.protocol)) throw invalid('protocol: must be tcp, udp, http or https');
  checkPort('publicPort', m.publicPort);
  checkPort('targetPort', m.targetPort);
  if (m.targetPort == null) throw invalid('targetPort: required');
  if (!m.targetHost || m.targetHost.trim() !== m.targetHost)
    throw invalid('targetHost: must be a host name or address');
  const hostnames = checkHttpFields(m);
  // A mapping with host names keeps its first one as its domain (what lists show).
  const named = hostnames[0] ?? m.domain;
  const domain = named == null ? null : named.toLowerCase().replace(/\.$/, '');
  if (
    domain !== null &&
    !/^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(domain)
  ) {
    throw invalid('domain: must be a host name such as app.example.com');
  }
  if (m.protocol === 'tcp' || m.protocol === 'udp') {
    if (domain !== null) throw invalid(`domain: only http and https mappings have a domain`);
    if (m.publicPort == null) throw invalid('publicPort: required for tcp and udp mappings');
  } else if (m.publicPort == null && domain === null) {
    throw invalid('publicPort: an http or https mapping needs a public port, a domain, or host names');
  }
  for (const field of ['uploadLimit', 'downloadLimit'] as const) {
    const value = m[field];
    if (value != null && (!Number.isSafeInteger(value) || value < 1)) {
      throw invalid(`${field}: must be a positive integer (bytes per second) or null`);
    }
  }
  checkMaxConnections(m.maxConnections);
  if (m.proxyProtocol !== null) {
    if (!PROXY_PROTOCOL_VERSIONS.includes(m.proxyProtocol))
      throw invalid('proxyProtocol: must be v1, v2 or null');
    if (m.protocol === 'udp')
      throw invalid('proxyProtocol: a udp mapping cannot send a PROXY protocol header');
  }
  return { ...m, domain, hostnames };
}

/** The error a failed insert or update of `m` stands for (anything unrecognized as it is). */
export function translateWrite(
  error: unknown,
  m: { protocol: Protocol; publicPort?: number | null; domain?: string | null; hostnames?: string[] },
) {
  const unique = uniqueViolation(error);
  if (unique?.includes('domain') && m.hostnames?.length) {
    return new MuonError('MUON_ERR_CONFLICT', `hostnames: ${m.domain} is already mapped for ${m.protocol}`, {
      field: 'hostnames',
      cause: error,
    });
  }
  if (unique?.includes('domain')) {
    return new MuonError('MUON_ERR_CONFLICT', `domain: ${m.domain} is already mapped for ${m.protocol}`, {
      cause: error,
    });
  }
  if (unique !== undefined) {
    const family = portFamily(m.protocol).toUpperCase();
    return new MuonError(
      'MUON_ERR_PORT_CONFLICT',
      `publicPort: ${family} port ${m.publicPort} is already mapped`,
      {
        cause: error,
      },
    );
  }
  if (isForeignKeyViolation(error)) {
    return new MuonError('MUON_ERR_NOT_FOUND', 'the license or security group does not exist', {
      cause: error,
    });
  }
  return error;
}
