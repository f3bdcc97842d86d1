// Parses and checks one HTTP/1.x request head, as the router needs it: where the body ends, which
// host it is for, whether the connection stays open or upgrades. Strict where a lenient reading
// would let the router and the target disagree about where a request ends (request smuggling):
// Content-Length with Transfer-Encoding, conflicting lengths, codings other than chunked, a
// missing or repeated Host, request targets with spaces or control characters. Pure.

import { type HostHeader, parseHostHeader } from './host-names.ts';
import { HttpError, malformed } from './http-error.ts';
import {
  contentLengthOf,
  type HeaderField,
  type HeadLimits,
  isToken,
  listOf,
  type Oversize,
  splitHead,
  valuesOf,
} from './message-head.ts';

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

export interface RequestHead {
  method: string;
  target: string;
  /** HTTP/1.0 or HTTP/1.1. */
  version: '1.0' | '1.1';
  /** Every header field in order, names as sent. */
  fields: HeaderField[];
  /** The Host header as sent. */
  hostValue: string;
  host: HostHeader;
  body: BodyFraming;
  /** The visitor wants the connection kept open after this request. */
  keepAlive: boolean;
  /** Connection: upgrade with an Upgrade header (WebSocket): after a 101, bytes flow raw. */
  upgrade: boolean;
}

export const REQUEST_LIMITS: HeadLimits = { maxBytes: 32 * 1024, maxFields: 100 };
export const REQUEST_OVERSIZE: Oversize = { status: 431, code: 'MUON_ERR_HTTP_HEAD_TOO_LARGE' };

const REQUEST_TARGET = /^[\x21-\x7e]+$/;

export function parseRequestHead(head: Buffer, limits: HeadLimits = REQUEST_LIMITS): RequestHead {
  const { startLine, fields } = splitHead(head, limits, REQUEST_OVERSIZE);
  const parts = startLine.split(' ');
  if (parts.length !== 3) throw malformed('the request line is not "METHOD target HTTP/1.1"');
  const [method = '', target = '', versionText = ''] = parts;
  if (!isToken(method)) throw malformed('the method is not a token');
  if (!REQUEST_TARGET.test(target)) throw malformed('the request target has a forbidden character');
  const version = versionOf(versionText);
  if (method === 'CONNECT') throw malformed('CONNECT is not supported by a reverse proxy', 405);

  const hosts = valuesOf(fields, 'host');
  if (hosts.length !== 1)
    throw malformed(hosts.length === 0 ? 'no Host header' : 'more than one Host header');
  const hostValue = hosts[0] as string;
  const host = parseHostHeader(hostValue);
  if (!host) throw malformed('the Host header is not a host name with an optional port');
  checkTarget(method, target, hostValue);

  const connection = listOf(fields, 'connection');
  const keepAlive = version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
  const upgrade = connection.includes('upgrade') && valuesOf(fields, 'upgrade').length > 0;
  return {
    method,
    target,
    version,
    fields,
    hostValue,
    host,
    body: framingOf(fields, version),
    keepAlive: keepAlive && !connection.includes('close'),
    upgrade,
  };
}

function versionOf(text: string): '1.0' | '1.1' {
  const match = /^HTTP\/(\d)\.(\d)$/.exec(text);
  if (!match) throw malformed('the request line does not end with an HTTP version');
  if (text === 'HTTP/1.1') return '1.1';
  if (text === 'HTTP/1.0') return '1.0';
  throw malformed(`${text} is not supported (HTTP/1.0 and HTTP/1.1 are)`, 505);
}

/** Origin form (`/path`), `*` for OPTIONS, or an absolute URL whose authority is the Host. */
function checkTarget(method: string, target: string, hostValue: string): void {
  if (target.startsWith('/')) return;
  if (target === '*') {
    if (method === 'OPTIONS') return;
    throw malformed('the target * is only for OPTIONS');
  }
  const absolute = /^https?:\/\/([^/?#]*)/i.exec(target);
  if (!absolute) throw malformed('the request target is not a path or an absolute URL');
  // Two names for one request would let the router and the target pick different hosts.
  if ((absolute[1] as string).toLowerCase() !== hostValue.toLowerCase()) {
    throw malformed('the request target names another host than the Host header');
  }
}

function framingOf(fields: readonly HeaderField[], version: '1.0' | '1.1'): BodyFraming {
  const length = contentLengthOf(fields);
  if (valuesOf(fields, 'transfer-encoding').length === 0) {
    return length === undefined || length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  if (version === '1.0') throw malformed('Transfer-Encoding in an HTTP/1.0 request');
  if (length !== undefined) throw malformed('both Content-Length and Transfer-Encoding');
  const codings = listOf(fields, 'transfer-encoding');
  if (codings.length !== 1 || codings[0] !== 'chunked') {
    throw new HttpError(501, 'MUON_ERR_HTTP_MALFORMED', 'a transfer coding other than chunked');
  }
  return { kind: 'chunked' };
}
