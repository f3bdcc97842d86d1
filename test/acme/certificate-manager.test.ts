// The certificate manager's scheduling, on mocked timers and clock with an in-memory store and a
// stand-in for the authority: it orders at start, stores what it gets and renews it when due by
// its own timer; a failure is stored and logged with its code and retried with a doubling delay,
// and a new name is ordered at once; close() is idempotent, leaves no timer and ignores changes,
// and an order still under way at close is dropped.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { describe, test } from 'node:test';
import type { IssuedCertificate } from '../../src/acme/acme-issuer.ts';
import type { AcmeStatus } from '../../src/acme/acme-status.ts';
import { PENDING_STATUS } from '../../src/acme/acme-status.ts';
import type { AcmeDomain, AcmeStore } from '../../src/acme/acme-store.ts';
import { CertificateManager } from '../../src/acme/certificate-manager.ts';
import { ChallengeStore } from '../../src/acme/challenge-store.ts';
import { describeCertificate } from '../../src/http/domain-certificate.ts';
import { makeCertificate } from '../support/certs.ts';
import { LogCapture } from '../support/stack.ts';

const DAY = 86_400_000;
const MINUTE = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');

interface Entry {
  name: string;
  hostnames: string[];
  certificate: AcmeDomain['certificate'];
  status: AcmeStatus;
}

/** Domains in memory; counts reads, and announces changes like the store does. */
class MemoryAcme implements AcmeStore {
  readonly entries = new Map<number, Entry>();
  readonly listeners = new Set<() => void>();
  reads = 0;

  async domains(): Promise<AcmeDomain[]> {
    this.reads++;
    return [...this.entries].map(([id, e]) => ({
      id,
      name: e.name,
      certificate: e.certificate,
      httpsHostnames: [...e.hostnames],
      status: structuredClone(e.status),
    }));
  }
  async saveCertificate(
    id: number,
    pair: { cert: string; key: string },
    status: AcmeStatus,
  ): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    const info = await describeCertificate(pair.cert);
    entry.certificate = { names: info.names, notBefore: info.notBefore, notAfter: info.notAfter };
    entry.status = status;
    this.changed();
    return true;
  }
  async saveStatus(id: number, status: AcmeStatus): Promise<void> {
    const entry = this.entries.get(id);
    if (entry) entry.status = status;
  }
  async account(): Promise<never> {
    throw new Error('the stand-in authority needs no account');
  }
  async updateAccount(): Promise<void> {}
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
  status(id = 1): AcmeStatus {
    return (this.entries.get(id) as Entry).status;
  }
}

/** Lets promises and real I/O (key generation) run while the clock stands still. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the mocked clock on by `ms`, in steps no longer than the periodic check, settling after each. */
async function advance(t: TestContext, ms: number): Promise<void> {
  let left = ms;
  while (left > 0) {
    const step = Math.min(left, 6 * 3_600_000);
    t.mock.timers.tick(step);
    left -= step;
    await settle();
  }
}

function setup(t: TestContext, issue: (names: readonly string[]) => Promise<IssuedCertificate>) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const store = new MemoryAcme();
  store.entries.set(1, {
    name: 'example.com',
    hostnames: ['app.example.com', '*.dev.example.com'],
    certificate: null,
    status: PENDING_STATUS,
  });
  const log = new LogCapture();
  const manager = new CertificateManager({
    store,
    directoryUrl: 'https://acme.invalid/directory',
    challenges: new ChallengeStore(),
    logger: log.logger,
    issue,
  });
  t.after(() => manager.close());
  return { store, log, manager };
}

/** Ninety-day certificates from "now" (the mocked clock). */
function authority() {
  const orders: string[][] = [];
  const issue = async (names: readonly string[]) => {
    orders.push([...names]);
    const now = Date.now();
    return makeCertificate([...names], { notBefore: new Date(now), notAfter: new Date(now + 90 * DAY) });
  };
  return { orders, issue };
}

describe('certificate manager', () => {
  test('orders at start, stores the certificate, and renews it by its own timer when due', async (t) => {
    const ca = authority();
    const { store, manager } = setup(t, ca.issue);
    manager.start();
    manager.start();
    t.mock.timers.tick(0);
    await until(() => store.status().state === 'valid', 'the first certificate');
    assert.deepEqual(ca.orders, [['example.com', 'app.example.com']], 'one order, without the wildcard');
    const first = store.status();
    assert.deepEqual(first.skipped, ['*.dev.example.com']);
    assert.equal(first.issuedAt, new Date(T0).toISOString());
    assert.equal(first.renewAfter, new Date(T0 + 60 * DAY).toISOString(), '30 days before the end');

    await advance(t, 60 * DAY - MINUTE);
    assert.equal(ca.orders.length, 1, 'nothing due before renewAfter');
    await advance(t, 2 * MINUTE);
    await until(() => ca.orders.length === 2 && store.status().issuedAt !== first.issuedAt, 'the renewal');
    assert.equal(store.status().state, 'valid');
    assert.equal(store.status().renewAfter, new Date(T0 + 120 * DAY + MINUTE).toISOString());
  });

  test('a failure is logged with its code and retried with a doubling delay; a new name is tried at once', async (t) => {
    const ca = authority();
    let refusals = 3;
    const { store, log, manager } = setup(t, async (names) => {
      if (refusals-- > 0) {
        ca.orders.push([...names]);
        throw new Error('urn:ietf:params:acme:error:rateLimited: too many certificates');
      }
      return ca.issue(names);
    });
    manager.start();
    t.mock.timers.tick(0);
    await until(() => store.status().state === 'failed', 'the first failure');
    let status = store.status();
    assert.deepEqual(status.lastError, {
      code: 'MUON_ERR_ACME_FAILED',
      message: 'urn:ietf:params:acme:error:rateLimited: too many certificates',
      at: new Date(T0).toISOString(),
    });
    assert.equal(status.failures, 1);
    assert.equal(status.retryAt, new Date(T0 + 5 * MINUTE).toISOString(), 'first retry after 5 minutes');
    const line = log.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'ACME order failed');
    assert.equal(line?.code, 'MUON_ERR_ACME_FAILED');
    assert.equal(line?.domain, 'example.com');

    await advance(t, 5 * MINUTE - 1000);
    assert.equal(ca.orders.length, 1, 'no retry before retryAt');
    await advance(t, 1000);
    await until(() => store.status().failures === 2, 'the second failure');
    status = store.status();
    assert.equal(status.retryAt, new Date(T0 + 15 * MINUTE).toISOString(), 'then after 10 minutes');

    // A new https name: ordered after the change pause, without waiting for the retry.
    (store.entries.get(1) as Entry).hostnames.push('shop.example.com');
    store.changed();
    await advance(t, 2000);
    await until(() => ca.orders.length === 3, 'an order for the new name');
    assert.deepEqual(ca.orders[2], ['example.com', 'app.example.com', 'shop.example.com']);
    await until(() => store.status().failures === 1, 'a first failure for the new names');

    await advance(t, 5 * MINUTE);
    await until(() => store.status().state === 'valid', 'the certificate');
    status = store.status();
    assert.equal(status.failures, 0);
    assert.equal(status.retryAt, null);
    assert.match(status.lastError?.message ?? '', /rateLimited/, 'the last error stays for reference');
  });

  test('close() is idempotent, stops the timers and the change feed, and drops an order under way', async (t) => {
    let release: ((pair: IssuedCertificate) => void) | undefined;
    const { store, manager } = setup(
      t,
      () =>
        new Promise<IssuedCertificate>((resolve) => {
          release = resolve;
        }),
    );
    manager.start();
    t.mock.timers.tick(0);
    await until(() => release !== undefined, 'an order under way');
    assert.equal(store.status().state, 'pending');

    const closing = manager.close();
    assert.equal(manager.close(), closing);
    await settle();
    t.mock.timers.tick(1000); // the grace for the order under way
    await closing;
    assert.equal(store.listeners.size, 0, 'unsubscribed');

    release?.(await makeCertificate(['example.com', 'app.example.com']));
    await settle();
    assert.equal(store.entries.get(1)?.certificate, null, 'the late certificate is dropped');
    const reads = store.reads;
    store.changed();
    await advance(t, 2 * DAY);
    assert.equal(store.reads, reads, 'no check after close');
    manager.start();
    await advance(t, DAY);
    assert.equal(store.reads, reads, 'a closed manager does not start again');
  });
});
