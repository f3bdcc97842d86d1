// How MuonErrors become HTTP responses: a status per code and a JSON body that carries the
// stable code and a message, never a stack trace.

import type { ErrorCode } from '../errors.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  MUON_ERR_INVALID_INPUT: 400,
  MUON_ERR_CONFIG: 400,
  MUON_ERR_UNAUTHORIZED: 401,
  MUON_ERR_AUTH_FAILED: 401,
  MUON_ERR_FORBIDDEN: 403,
  MUON_ERR_NOT_FOUND: 404,
  MUON_ERR_CONFLICT: 409,
  MUON_ERR_PORT_IN_USE: 409,
  MUON_ERR_PORT_CONFLICT: 409,
  MUON_ERR_PAYLOAD_TOO_LARGE: 413,
  MUON_ERR_RATE_LIMITED: 429,
  MUON_ERR_STORE_UNAVAILABLE: 503,
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}
