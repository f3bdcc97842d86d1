// Keeps the certificates of ACME domains current: at start, every `checkIntervalMs`, shortly after
// any change to domains or mappings, and when a renewal or retry falls due, it looks at each domain
// with `acme` on and orders a certificate where none covers its names or the one it has ends within
// `renewBeforeDays`. Each outcome is stored as the domain's status (shown by the API); a failure is
// logged with MUON_ERR_ACME_FAILED and retried after a growing delay. One check runs at a time.

import { MuonError } from '../errors.ts';
import { describeCertificate } from '../http/domain-certificate.ts';
import type { Logger } from '../log.ts';
import { useDirectory } from './acme-http.ts';
import { AcmeIssuer, type IssuedCertificate, newAccountKey } from './acme-issuer.ts';
import { type AcmeStatus, acmeNames, orderReason, renewAfter, retryDelay, sameNames } from './acme-status.ts';
import type { AcmeDomain, AcmeStore } from './acme-store.ts';
import type { ChallengeStore } from './challenge-store.ts';

const DAY_MS = 86_400_000;
/** setTimeout's longest delay (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Timing, mostly for tests; every field has a production default. */
export interface AcmeTuning {
  /** The clock deciding what is due (timers still run on real time). */
  now?: () => Date;
  /** Every domain is looked at this often, whatever happens. Default 12 h. */
  checkIntervalMs?: number;
  /** A change to domains or mappings is looked at after this pause (changes in a burst are looked at once). Default 2 s. */
  changeDelayMs?: number;
  /** The first retry after a failed order; each further one waits twice as long. Default 5 min. */
  retryMinMs?: number;
  /** The longest wait between retries. Default 12 h. */
  retryMaxMs?: number;
  /** How a validation or order is polled at the authority. Default 1 s, doubling to 10 s, 12 times. */
  pollMinMs?: number;
  pollMaxMs?: number;
  pollAttempts?: number;
  /** How long close() waits for an order under way before leaving it behind. Default 1 s. */
  closeGraceMs?: number;
}

export const ACME_DEFAULTS = {
  renewBeforeDays: 30,
  checkIntervalMs: 12 * 3_600_000,
  changeDelayMs: 2_000,
  retryMinMs: 5 * 60_000,
  retryMaxMs: 12 * 3_600_000,
  pollMinMs: 1_000,
  pollMaxMs: 10_000,
  pollAttempts: 12,
  closeGraceMs: 1_000,
} as const;

export interface CertificateManagerOptions {
  store: AcmeStore;
  /** The authority's directory, e.g. https://acme-v02.api.letsencrypt.org/directory. */
  directoryUrl: string;
  /** Contact for the account (optional). */
  email?: string | undefined;
  /** Renew a certificate this many days before it ends. Default 30. */
  renewBeforeDays?: number;
  /** PEM of a CA trusted for the directory's HTTPS (a private or test authority). */
  caCertificate?: string | undefined;
  /** Where challenges wait for the HTTP port to answer them. */
  challenges: ChallengeStore;
  logger: Logger;
  tuning?: AcmeTuning;
  /** Orders a certificate some other way than from the directory (tests of the scheduling). */
  issue?: (names: readonly string[]) => Promise<IssuedCertificate>;
}

export class CertificateManager {
  readonly #options: CertificateManagerOptions;
  readonly #tuning: Required<Omit<AcmeTuning, 'now'>>;
  readonly #now: () => Date;
  readonly #renewBeforeMs: number;
  readonly #log: Logger;
  #issuer: AcmeIssuer | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (real time, ms). */
  #timerAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | undefined;
  #runAgain = false;
  #started = false;
  #unsubscribe: (() => void) | undefined;
  #release: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: CertificateManagerOptions) {
    this.#options = options;
    const { now, ...tuning } = options.tuning ?? {};
    this.#tuning = { ...ACME_DEFAULTS, ...tuning };
    this.#now = now ?? (() => new Date());
    this.#renewBeforeMs = (options.renewBeforeDays ?? ACME_DEFAULTS.renewBeforeDays) * DAY_MS;
    this.#log = options.logger.child({ component: 'acme' });
  }

  /** Starts watching: a first check at once, then on changes and timers. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#release = useDirectory(this.#options.directoryUrl, this.#options.caCertificate);
    this.#unsubscribe = this.#options.store.onChange(() => this.#schedule(this.#tuning.changeDelayMs));
    this.#schedule(0);
  }

  /**
   * Looks at every domain now (ordering what is due); resolves when done. A call while a check
   * runs makes one more check follow it, so the latest state is always looked at.
   */
  checkNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#runAgain = true;
      return this.#running;
    }
    const run = async () => {
      try {
        do {
          this.#runAgain = false;
          await this.#check();
        } while (this.#runAgain && !this.#closed);
      } finally {
        this.#running = undefined;
      }
    };
    this.#running = run();
    return this.#running;
  }

  /** Stops the timers and the change feed; an order under way is left behind after a short grace. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#doClose();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #doClose(): Promise<void> {
    this.#unsubscribe?.();
    this.#clearTimer();
    const running = this.#running;
    if (running) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        running,
        new Promise<void>((resolve) => {
          grace = setTimeout(resolve, this.#tuning.closeGraceMs);
          grace.unref();
        }),
      ]);
      clearTimeout(grace);
    }
    this.#release?.();
  }

  /** Makes a check happen within `delayMs` (an earlier one already planned stays). */
  #schedule(delayMs: number): void {
    if (this.#closed || !this.#started) return;
    const delay = Math.max(0, Math.min(delayMs, this.#tuning.checkIntervalMs, MAX_TIMER_MS));
    const at = Date.now() + delay;
    if (this.#timer && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      void this.checkNow();
    }, delay);
    this.#timer.unref();
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  async #check(): Promise<void> {
    let next: number = this.#tuning.checkIntervalMs;
    try {
      const domains = await this.#options.store.domains();
      for (const domain of domains) {
        if (this.#closed) return;
        next = Math.min(next, await this.#checkDomain(domain));
      }
    } catch (error) {
      if (this.#closed) return;
      // The store is away (or a status could not be written): look again after the first retry delay.
      this.#log.error(
        { code: 'MUON_ERR_ACME_FAILED', err: messageOf(error) },
        'cannot check ACME certificates',
      );
      next = this.#tuning.retryMinMs;
    }
    // Timers run on real time; a due renewal or retry is at least a second away, so nothing spins.
    this.#schedule(Math.max(next, 1_000));
  }

  /** Orders a certificate for the domain if it needs one; returns the ms until it needs a look again. */
  async #checkDomain(domain: AcmeDomain): Promise<number> {
    const now = this.#now();
    const { names, skipped } = acmeNames(domain.name, domain.httpsHostnames);
    const previous = domain.status;
    // Once ACME issued one, uploads are refused while `acme` is on: the certificate is ours.
    const ours = previous.issuedAt !== null;
    const reason = orderReason(domain.certificate, names, now, this.#renewBeforeMs, ours);
    const valid = (renewAt: Date): AcmeStatus => ({
      ...previous,
      state: 'valid',
      names,
      skipped,
      failures: 0,
      retryAt: null,
      renewAfter: renewAt.toISOString(),
    });
    if (reason === undefined && domain.certificate) {
      const renewAt = renewAfter(domain.certificate, this.#renewBeforeMs, ours);
      await this.#saveStatus(domain, valid(renewAt));
      return renewAt.getTime() - now.getTime();
    }
    const namesChanged = !sameNames(previous.names, names);
    const retryAt = previous.retryAt === null ? Number.NaN : Date.parse(previous.retryAt);
    if (previous.state === 'failed' && !namesChanged && retryAt > now.getTime()) {
      return retryAt - now.getTime();
    }

    await this.#saveStatus(domain, { ...previous, state: 'pending', names, skipped });
    try {
      const issued = await this.#order(names);
      if (this.#closed) return Number.POSITIVE_INFINITY;
      const info = await describeCertificate(issued.cert);
      const renewAt = renewAfter(info, this.#renewBeforeMs, true);
      const status: AcmeStatus = { ...valid(renewAt), issuedAt: now.toISOString() };
      if (await this.#options.store.saveCertificate(domain.id, issued, status)) {
        this.#log.info(
          { domain: domain.name, names, reason, notAfter: info.notAfter.toISOString() },
          'certificate issued by ACME',
        );
      }
      return renewAt.getTime() - now.getTime();
    } catch (error) {
      if (this.#closed) return Number.POSITIVE_INFINITY;
      // The names changed since the failures counted so far: this is a first failure again.
      const failures = (namesChanged ? 0 : previous.failures) + 1;
      const delay = retryDelay(failures, this.#tuning.retryMinMs, this.#tuning.retryMaxMs);
      const message = messageOf(error);
      const retry = new Date(now.getTime() + delay).toISOString();
      this.#log.warn(
        {
          code: 'MUON_ERR_ACME_FAILED',
          domain: domain.name,
          names,
          reason,
          failures,
          retryAt: retry,
          err: message,
        },
        'ACME order failed',
      );
      await this.#saveStatus(domain, {
        ...previous,
        state: 'failed',
        names,
        skipped,
        lastError: { code: 'MUON_ERR_ACME_FAILED', message, at: now.toISOString() },
        failures,
        retryAt: retry,
      });
      return delay;
    }
  }

  async #order(names: readonly string[]): Promise<IssuedCertificate> {
    const { store, directoryUrl, email, challenges, issue } = this.#options;
    if (issue) return issue(names);
    if (!this.#issuer) {
      const account = await store.account(directoryUrl, newAccountKey);
      const issuer = new AcmeIssuer({
        directoryUrl,
        accountKey: account.keyPem,
        email,
        challenges,
        poll: {
          minMs: this.#tuning.pollMinMs,
          maxMs: this.#tuning.pollMaxMs,
          attempts: this.#tuning.pollAttempts,
        },
      });
      const accountUrl = await issuer.register();
      if (accountUrl !== account.accountUrl || (email ?? null) !== account.email) {
        await store.updateAccount(directoryUrl, { accountUrl, email: email ?? null });
      }
      this.#issuer = issuer;
    }
    try {
      return await this.#issuer.issue(names);
    } catch (error) {
      // Register again next time: the authority may have forgotten the account (a test authority does at restart).
      this.#issuer = undefined;
      throw error;
    }
  }

  /** Writes a status that differs from the stored one. */
  async #saveStatus(domain: AcmeDomain, status: AcmeStatus): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(domain.status)) return;
    await this.#options.store.saveStatus(domain.id, status);
    domain.status = status;
  }
}

/** A failure as one line for the status and the log: the authority's own words where it gave them. */
function messageOf(error: unknown): string {
  let text: string;
  if (error instanceof MuonError || error instanceof Error) text = error.message;
  else text = String(error);
  return text.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
}
