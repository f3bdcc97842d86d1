// The one error module: every failure Muon reports carries a stable `MUON_ERR_…` code.
// Codes travel on the wire (ERROR / DISCONNECT / KICK frames), appear in logs and API
// responses, and are listed in docs/errors.md (a test keeps the two in step).

export const ErrorCodes = {
  MUON_ERR_BAD_MAGIC: 'The peer did not start with the Muon preamble (not a Muon client or server).',
  MUON_ERR_UNSUPPORTED_VERSION: 'The peer speaks a protocol version this build does not support.',
  MUON_ERR_FRAME_TOO_LARGE: 'A frame declared a length above the configured maximum frame size.',
  MUON_ERR_MALFORMED_FRAME: 'A frame could not be decoded (unknown type, truncated or inconsistent payload).',
  MUON_ERR_UNEXPECTED_FRAME: 'A well-formed frame arrived in a state where it is not allowed.',
  MUON_ERR_FLOW_CONTROL: 'A stream on a multiplexed carrier sent more than its window allowed.',
  MUON_ERR_SEALED_RECORD:
    "A sealed raw session's record did not authenticate or was malformed, or its channel ended without END (changed on the way, or a broken peer); the session was reset.",
  MUON_ERR_HANDSHAKE_TIMEOUT: 'The peer did not complete the handshake in time.',
  MUON_ERR_AUTH_FAILED: 'The license key is unknown or the proof of it is wrong.',
  MUON_ERR_LICENSE_DISABLED: 'The license (or its owner) is disabled.',
  MUON_ERR_SERVER_AUTH_FAILED: 'The server could not prove it knows the license key (possible impostor).',
  MUON_ERR_FINGERPRINT_MISMATCH: "The server's TLS certificate does not match the pinned fingerprint.",
  MUON_ERR_TLS: 'The TLS connection to the server could not be established or verified.',
  MUON_ERR_SESSION_UNKNOWN: 'A proxy channel named a session that does not exist or proved it wrongly.',
  MUON_ERR_SESSION_REPLACED: 'A newer client session with the same license replaced this one.',
  MUON_ERR_HEARTBEAT_TIMEOUT: 'The peer stopped answering heartbeats.',
  MUON_ERR_TARGET_UNREACHABLE: 'The client could not connect to the target service.',
  MUON_ERR_CONNECT_TIMEOUT: 'The tunnel did not set up the visitor connection in time.',
  MUON_ERR_NO_CLIENT: 'No client is online for this public port.',
  MUON_ERR_POOL_EXHAUSTED: 'The client has reached its maximum number of proxy channels.',
  MUON_ERR_ACCESS_DENIED: "The visitor's address is not allowed by the mapping's security group.",
  MUON_ERR_CONNECTION_LIMIT: 'The mapping or license already has its maximum number of visitor connections.',
  MUON_ERR_IDLE_TIMEOUT: 'A session carried no data in either direction for its idle timeout.',
  MUON_ERR_CLIENT_UNSUPPORTED:
    'The connected client does not support what a mapping needs (UDP or the PROXY protocol).',
  MUON_ERR_PORT_IN_USE: 'The public port is already bound by another mapping or process.',
  MUON_ERR_PORT_CONFLICT: 'Two mappings claim the same public port.',
  MUON_ERR_HOST_UNKNOWN: 'No HTTP or HTTPS mapping serves the host name the visitor asked for.',
  MUON_ERR_MISDIRECTED: 'An HTTPS request named another host than the TLS server name of its connection.',
  MUON_ERR_HTTP_MALFORMED: "The visitor's HTTP request is malformed or ambiguous and was refused.",
  MUON_ERR_HTTP_HEAD_TOO_LARGE:
    "The visitor's HTTP request head is larger than allowed, or has too many fields.",
  MUON_ERR_HTTP_TIMEOUT: 'The visitor did not send a complete HTTP request head in time.',
  MUON_ERR_HTTP_AUTH_REQUIRED:
    'The mapping asks for a user name and password (basic auth) and got none or wrong ones.',
  MUON_ERR_BAD_RESPONSE: 'The target closed without answering, or its HTTP response was malformed.',
  MUON_ERR_ACME_FAILED:
    "A domain's certificate could not be obtained or renewed from the ACME certificate authority.",
  MUON_ERR_CONFIG: 'A configuration value is missing or invalid.',
  MUON_ERR_SHUTDOWN: 'The peer is shutting down.',
  MUON_ERR_RATE_LIMITED: 'Too many connections or attempts from this address; try again later.',
  MUON_ERR_PEER_ERROR: 'The peer reported an error on this connection.',
  MUON_ERR_OUT_OF_FILES:
    'The process has no file descriptor left (the open-file limit, ulimit -n, is reached); connections are refused.',
  MUON_ERR_INTERNAL: 'An unexpected internal error; details are in the server log.',
  MUON_ERR_NOT_FOUND: 'The object named does not exist (or no longer exists).',
  MUON_ERR_CONFLICT:
    'The change conflicts with an existing object: a name, key or domain in use, or an object still referenced.',
  MUON_ERR_INVALID_INPUT: 'A value is not valid for its field; the message names the field.',
  MUON_ERR_STORE_UNAVAILABLE: 'The database cannot be opened or reached.',
  MUON_ERR_STORE_VERSION: 'The database schema is newer than this build of Muon.',
  MUON_ERR_UNAUTHORIZED: 'The request needs a logged-in session (or the session expired).',
  MUON_ERR_FORBIDDEN: 'The logged-in user may not see or change this object.',
  MUON_ERR_PAYLOAD_TOO_LARGE: 'The request body is larger than the API accepts.',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ErrorCodes, value);
}

export interface MuonErrorOptions extends ErrorOptions {
  /** The input field at fault (API and config validation). */
  field?: string;
}

export class MuonError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message?: string, options?: MuonErrorOptions) {
    super(message ?? ErrorCodes[code], options);
    this.name = 'MuonError';
    this.code = code;
    this.field = options?.field;
  }
}

/** Codes after which a client should stop retrying: the operator has to change something first. */
const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set([
  'MUON_ERR_AUTH_FAILED',
  'MUON_ERR_LICENSE_DISABLED',
  'MUON_ERR_SERVER_AUTH_FAILED',
  'MUON_ERR_FINGERPRINT_MISMATCH',
  'MUON_ERR_UNSUPPORTED_VERSION',
  'MUON_ERR_BAD_MAGIC',
  'MUON_ERR_CONFIG',
]);

export function isPermanent(code: ErrorCode): boolean {
  return PERMANENT_CODES.has(code);
}

/** The code of any thrown value: ours, or MUON_ERR_INTERNAL for everything else. */
export function codeOf(error: unknown): ErrorCode {
  return error instanceof MuonError ? error.code : 'MUON_ERR_INTERNAL';
}
