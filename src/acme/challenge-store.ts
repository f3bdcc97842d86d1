// The HTTP-01 challenges of the orders under way, by token: the certificate manager adds one
// before telling the authority to validate it and removes it once the authority has decided; the
// HTTP router answers from it (src/http/acme-challenge.ts). In memory: an order does not outlive
// the process. A key authorization is public (token and account key thumbprint), not a secret.

import type { ChallengeResponses } from '../http/acme-challenge.ts';

export class ChallengeStore implements ChallengeResponses {
  readonly #byToken = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.#byToken.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.#byToken.delete(token);
  }

  keyAuthorization(token: string): string | undefined {
    return this.#byToken.get(token);
  }

  get size(): number {
    return this.#byToken.size;
  }
}
