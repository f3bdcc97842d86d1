// One ACME account at one authority, and certificate orders through it with acme-client: the
// account is registered (or found again, its contact brought up to date) once per issuer, then
// each order gets a fresh P-256 key and CSR for its names, proves each name by HTTP-01 through
// the challenge store (which the shared HTTP port answers from), and returns the certificate
// chain with its key. The account key and certificate keys are secrets: never logged here.

import * as acme from 'acme-client';
import { MuonError } from '../errors.ts';
import type { ChallengeStore } from './challenge-store.ts';

export interface IssuerOptions {
  directoryUrl: string;
  /** PEM private key of the account. */
  accountKey: string;
  /** Contact for the authority's notices (expiry, incidents). */
  email: string | undefined;
  challenges: ChallengeStore;
  /** How the status of a validation or order is polled: first delay, longest delay, attempts. */
  poll: { minMs: number; maxMs: number; attempts: number };
}

export interface IssuedCertificate {
  /** PEM: the leaf, then the chain. */
  cert: string;
  /** PEM private key of the leaf. */
  key: string;
}

export class AcmeIssuer {
  readonly #options: IssuerOptions;
  readonly #client: acme.Client;
  #registered: Promise<string> | undefined;

  constructor(options: IssuerOptions) {
    this.#options = options;
    this.#client = new acme.Client({
      directoryUrl: options.directoryUrl,
      accountKey: options.accountKey,
      backoffAttempts: options.poll.attempts,
      backoffMin: options.poll.minMs,
      backoffMax: options.poll.maxMs,
    });
  }

  /**
   * Registers the account, or finds it again by its key (and updates its contact); resolves with
   * the account URL. Agreeing to the authority's terms of service is implied by configuring it.
   */
  register(): Promise<string> {
    this.#registered ??= (async () => {
      const { email } = this.#options;
      await this.#client.createAccount({
        termsOfServiceAgreed: true,
        contact: email ? [`mailto:${email}`] : [],
      });
      return this.#client.getAccountUrl();
    })();
    this.#registered.catch(() => {
      this.#registered = undefined;
    });
    return this.#registered;
  }

  /** Orders a certificate for `names` (no wildcards), proving each one by HTTP-01. */
  async issue(names: readonly string[]): Promise<IssuedCertificate> {
    await this.register();
    const [key, csr] = await acme.crypto.createCsr(
      { altNames: [...names] },
      await acme.crypto.createPrivateEcdsaKey('P-256'),
    );
    const { challenges } = this.#options;
    const cert = await this.#client.auto({
      csr,
      termsOfServiceAgreed: true,
      // acme-client's own check fetches the challenge from the server itself first: it proves
      // nothing the authority will not (and hangs where the server cannot reach its own public
      // address). The authority's validation is the one that counts.
      skipChallengeVerification: true,
      challengePriority: ['http-01'],
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        if (challenge.type !== 'http-01') {
          throw new MuonError(
            'MUON_ERR_ACME_FAILED',
            `the authority offers no HTTP-01 challenge (only ${challenge.type}), the only kind Muon answers`,
          );
        }
        challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        challenges.delete(challenge.token);
      },
    });
    return { cert, key: key.toString() };
  }
}

/** A new account key (PEM, P-256). */
export async function newAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
}
