// What becomes of one request head on a visitor connection. The route decision (route-decision.ts)
// either is an answer of the router's own (ACME challenge, redirect to HTTPS, 421, 404) or names a
// mapping; a mapping other than the one the connection's stream goes to must wait for a switch;
// then basic auth, whose password check may take a moment, decides between forwarding and a 401
// or 429. Opens nothing and writes nothing: the connection carries the outcome out.

import type { ErrorCode } from '../errors.ts';
import type { AuthVerdict } from './basic-auth.ts';
import type { ConnectionContext } from './connection-context.ts';
import { authRequired, errorPage } from './local-responses.ts';
import { valuesOf } from './message-head.ts';
import type { RequestHead } from './request-head.ts';
import { decide } from './route-decision.ts';
import type { HttpRoute } from './routes.ts';

/** An answer of the router's own, and what its debug line says about it. */
export interface LocalAnswer {
  response: Buffer;
  /** The stable code; none for a redirect or an ACME challenge answer. */
  code: ErrorCode | undefined;
  detail?: string;
}

export type Dispatch =
  /** Forwarded to the route's mapping. */
  | { kind: 'forward'; route: HttpRoute }
  /** Answered by the router (after the answers owed to earlier requests); then the connection closes. */
  | { kind: 'answer'; answer: LocalAnswer }
  /** For another mapping than the open stream's: dispatched again once that one has answered all. */
  | { kind: 'switch' }
  /** The password check takes a moment: `authorize` its verdict. */
  | { kind: 'check'; route: HttpRoute; verdict: Promise<AuthVerdict> };

/** Where the request came in: the TLS server name, the open stream's mapping, the visitor's address. */
export interface DispatchSite {
  serverName: string | undefined;
  mappingId: string | undefined;
  remote: string;
}

/** An error page for `code`, answering `head` (GET when no head was read). */
export function errorAnswer(
  code: ErrorCode,
  head: RequestHead | undefined,
  options: { status?: number; headers?: [string, string][] } = {},
): LocalAnswer {
  return { code, response: errorPage(code, head?.method ?? 'GET', options) };
}

export function dispatch(head: RequestHead, ctx: ConnectionContext, site: DispatchSite): Dispatch {
  const { protocol, httpsPort, challenges } = ctx;
  const decision = decide(head, ctx.table(), {
    protocol,
    httpsPort,
    serverName: site.serverName,
    challenges,
  });
  if (decision.kind === 'refuse') return { kind: 'answer', answer: errorAnswer(decision.code, head) };
  if (decision.kind !== 'route') {
    const detail = decision.kind === 'redirect' ? 'redirected to HTTPS' : 'ACME challenge answered';
    return { kind: 'answer', answer: { code: undefined, detail, response: decision.response } };
  }
  const route = decision.route;
  // Another mapping on a kept-alive connection: once the current one has answered what it was
  // asked, its stream is closed and this request starts a stream to the new one.
  if (site.mappingId !== undefined && site.mappingId !== route.mappingId) return { kind: 'switch' };
  if (!route.basicAuth) return { kind: 'forward', route };
  const header = valuesOf(head.fields, 'authorization')[0];
  const verdict = ctx.auth.check(route.mappingId, route.basicAuth, header, site.remote);
  if (typeof verdict === 'string') return authorize(verdict, head, route);
  return { kind: 'check', route, verdict };
}

/** Forwards a request whose password checked out; a 429 or a 401 otherwise. */
export function authorize(verdict: AuthVerdict, head: RequestHead, route: HttpRoute): Dispatch {
  if (verdict === 'ok') return { kind: 'forward', route };
  if (verdict === 'limited') {
    return {
      kind: 'answer',
      answer: errorAnswer('MUON_ERR_RATE_LIMITED', head, { headers: [['Retry-After', '60']] }),
    };
  }
  const response = authRequired(head.method, route.hostname);
  return { kind: 'answer', answer: { code: 'MUON_ERR_HTTP_AUTH_REQUIRED', detail: verdict, response } };
}
