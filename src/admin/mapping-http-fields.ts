// The http/https part of the mapping bodies: host names under registered domains, forwarded
// headers, host rewrite and basic auth. Such a mapping is reached by name on the server's shared
// HTTP(S) ports, never on a port of its own; a basic-auth password is hashed here (argon2id) and
// only the hash goes to the store.

import { z } from 'zod';
import { MuonError } from '../errors.ts';
import type { NewMapping } from '../store/repositories/mapping-records.ts';
import { hashPassword } from './passwords.ts';

export const httpMappingFields = {
  /** Exact names or `*.` wildcards of one label, under registered domains (1–20). */
  hostnames: z.array(z.string().trim().min(1).max(253)).min(1).max(20).optional(),
  addForwardedHeaders: z.boolean().optional(),
  rewriteHost: z.boolean().optional(),
  /** null removes it. */
  basicAuth: z
    .strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) })
    .nullable()
    .optional(),
};

interface HttpBody {
  publicPort?: number | undefined;
  hostnames?: string[] | undefined;
  basicAuth?: { username: string; password: string } | null | undefined;
}

function invalid(field: string, message: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `${field}: ${message}`, { field });
}

/**
 * Checks a body's fields against the mapping's protocol (`creating`: host names are required) and
 * hashes a basic-auth password. Returns the body as the store takes it.
 */
export async function storeFieldsOf<T extends HttpBody>(
  protocol: string,
  body: T,
  creating: boolean,
): Promise<Omit<T, 'basicAuth'> & Pick<NewMapping, 'basicAuth'>> {
  const { basicAuth, ...rest } = body;
  if (protocol === 'http' || protocol === 'https') {
    if (body.publicPort !== undefined) {
      throw invalid(
        'publicPort',
        'http and https mappings are reached by host name on the shared HTTP(S) ports (use tcp for a port of their own)',
      );
    }
    if (creating && body.hostnames === undefined)
      throw invalid('hostnames', 'required for http and https mappings');
  }
  if (basicAuth === undefined) return rest;
  if (basicAuth === null) return { ...rest, basicAuth: null };
  return {
    ...rest,
    basicAuth: { username: basicAuth.username, passwordHash: await hashPassword(basicAuth.password) },
  };
}
