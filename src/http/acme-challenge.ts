// ACME HTTP-01 challenges on the shared HTTP port: `GET /.well-known/acme-challenge/<token>` is
// answered with the key authorization of a pending challenge, before any routing by Host (so
// force-HTTPS domains and names without mappings can be validated too). Pure: the tokens come
// from whoever orders the certificates (src/acme/challenge-store.ts).

/** The pending challenges, by token. */
export interface ChallengeResponses {
  /** The key authorization for `token`, or undefined when no order is waiting on it. */
  keyAuthorization(token: string): string | undefined;
}

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** ACME tokens are base64url (RFC 8555 §8.3); anything else is not one of ours. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** The token a request target asks for (origin form or absolute form, no query), or undefined. */
export function challengeToken(method: string, target: string): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const path = target.startsWith('/') ? target : /^http:\/\/[^/?#]*(\/[^?#]*)$/i.exec(target)?.[1];
  if (!path?.startsWith(CHALLENGE_PATH)) return undefined;
  const token = path.slice(CHALLENGE_PATH.length);
  return TOKEN.test(token) ? token : undefined;
}
