// What ACME means for one domain, decided from data alone: the names ordered (the domain, then its
// exact https names; wildcards set aside), why an order is due (none, a missing name, renewal),
// when renewal falls (the window, and half the lifetime for certificates ACME issued), the retry
// delays, and how a stored status is read back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acmeNames,
  orderReason,
  PENDING_STATUS,
  parseAcmeStatus,
  renewAfter,
  retryDelay,
} from '../../src/acme/acme-status.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const at = (days: number) => new Date(T0 + days * DAY);

describe('ACME status', () => {
  test('the names are the domain, then its exact https names sorted; wildcards are set aside', () => {
    assert.deepEqual(
      acmeNames('example.com', [
        'www.example.com',
        '*.dev.example.com',
        'app.example.com',
        'example.com',
        'app.example.com',
      ]),
      { names: ['example.com', 'app.example.com', 'www.example.com'], skipped: ['*.dev.example.com'] },
    );
    assert.deepEqual(acmeNames('example.com', []), { names: ['example.com'], skipped: [] });
  });

  test('an order is due without a certificate, for a missing name, or once renewal is due', () => {
    const names = ['example.com', 'app.example.com'];
    const cert = { names: ['example.com', 'app.example.com'], notBefore: at(0), notAfter: at(90) };
    const window = 30 * DAY;
    assert.equal(orderReason(null, names, at(0), window, false), 'no certificate');
    assert.equal(orderReason(cert, [...names, 'new.example.com'], at(1), window, true), 'names changed');
    assert.equal(
      orderReason({ ...cert, names: ['example.com', '*.example.com'] }, names, at(1), window, false),
      undefined,
      'a wildcard in the certificate covers an exact name',
    );
    assert.equal(orderReason(cert, names, at(59.9), window, true), undefined);
    assert.equal(orderReason(cert, names, at(60), window, true), 'renewal due');
  });

  test("renewal falls renewBeforeDays before the end, and for ACME's own not before half the lifetime", () => {
    const long = { notBefore: at(0), notAfter: at(90) };
    assert.deepEqual(renewAfter(long, 30 * DAY, true), at(60));
    assert.deepEqual(renewAfter(long, 30 * DAY, false), at(60));
    // A six-day certificate with a 30-day window: due at once, unless ACME just issued it.
    const short = { notBefore: at(0), notAfter: at(6) };
    assert.deepEqual(renewAfter(short, 30 * DAY, true), at(3));
    assert.deepEqual(renewAfter(short, 30 * DAY, false), at(-24));
    assert.equal(orderReason({ ...short, names: ['a.com'] }, ['a.com'], at(1), 30 * DAY, true), undefined);
    assert.equal(
      orderReason({ ...short, names: ['a.com'] }, ['a.com'], at(1), 30 * DAY, false),
      'renewal due',
    );
  });

  test('retries wait twice as long each time, up to the longest delay', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 40].map((n) => retryDelay(n, 300_000, 3_600_000)),
      [300_000, 600_000, 1_200_000, 2_400_000, 3_600_000, 3_600_000, 3_600_000],
    );
  });

  test('a stored status reads back as written; nothing or garbage reads as pending', () => {
    const status = {
      ...PENDING_STATUS,
      state: 'failed' as const,
      names: ['example.com'],
      lastError: { code: 'MUON_ERR_ACME_FAILED' as const, message: 'no', at: at(0).toISOString() },
      failures: 2,
      retryAt: at(1).toISOString(),
    };
    assert.deepEqual(parseAcmeStatus(JSON.stringify(status)), status);
    assert.deepEqual(parseAcmeStatus(null), PENDING_STATUS);
    assert.deepEqual(parseAcmeStatus('{not json'), PENDING_STATUS);
  });
});
