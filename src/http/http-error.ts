// A refusal of an HTTP message: the stable Muon code plus the HTTP status the router answers the
// visitor with. Thrown by the pure parsers (request heads, chunked bodies, response framing).

import { type ErrorCode, MuonError } from '../errors.ts';

export class HttpError extends MuonError {
  /** The status of the page the visitor gets (400, 431, 501, 505, …). */
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** A malformed or ambiguous message (400 unless said otherwise). */
export function malformed(message: string, status = 400): HttpError {
  return new HttpError(status, 'MUON_ERR_HTTP_MALFORMED', message);
}
