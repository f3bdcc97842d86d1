// Where one request goes, decided from its head and the route table alone: to the answer of a
// pending ACME HTTP-01 challenge (plain HTTP, before anything else), to a mapping, to a redirect
// to HTTPS (force-HTTPS domains, on the plain-HTTP port), or to a refusal (421 when an HTTPS
// request names another host than its TLS server name, 404 when no mapping serves it). Pure.

import type { ErrorCode } from '../errors.ts';
import { type ChallengeResponses, challengeToken } from './acme-challenge.ts';
import { challengeAnswer, redirectToHttps } from './local-responses.ts';
import type { RequestHead } from './request-head.ts';
import type { RouteTable } from './route-table.ts';
import type { HttpProtocol, HttpRoute } from './routes.ts';

export type Decision =
  | { kind: 'route'; route: HttpRoute }
  | { kind: 'redirect'; response: Buffer }
  | { kind: 'challenge'; response: Buffer }
  | { kind: 'refuse'; code: ErrorCode };

export interface DecisionContext {
  protocol: HttpProtocol;
  /** The TLS server name of an HTTPS connection (lower case). */
  serverName: string | undefined;
  /** Where force-HTTPS redirects point; undefined without an HTTPS port. */
  httpsPort: number | undefined;
  /** Pending ACME HTTP-01 challenges, answered on plain HTTP whatever the Host. */
  challenges?: ChallengeResponses | undefined;
}

export function decide(head: RequestHead, table: RouteTable, ctx: DecisionContext): Decision {
  if (ctx.protocol === 'http' && ctx.challenges) {
    const token = challengeToken(head.method, head.target);
    const answer = token === undefined ? undefined : ctx.challenges.keyAuthorization(token);
    // A token that is not ours goes on to the mapping: its service may run ACME itself.
    if (answer !== undefined) return { kind: 'challenge', response: challengeAnswer(head.method, answer) };
  }
  const name = head.host.name;
  if (ctx.serverName !== undefined && name !== ctx.serverName)
    return { kind: 'refuse', code: 'MUON_ERR_MISDIRECTED' };
  if (ctx.protocol === 'http' && ctx.httpsPort !== undefined && table.domainOf(name)?.forceHttps) {
    return { kind: 'redirect', response: redirectToHttps(head.method, name, ctx.httpsPort, head.target) };
  }
  const route = table.route(ctx.protocol, name);
  return route ? { kind: 'route', route } : { kind: 'refuse', code: 'MUON_ERR_HOST_UNKNOWN' };
}
