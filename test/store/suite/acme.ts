// ACME in the store: a domain with `acme` on takes exact https host names before it has a
// certificate (never wildcards), refuses uploads, and shows its status; the certificate manager's
// view (StoreAcme) lists such domains with their https names, stores certificates (checked, and
// announced to the router) and statuses, and hears of domain and mapping changes; the account
// key is created once, even by concurrent callers, and never leaves but through that view.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PENDING_STATUS } from '../../../src/acme/acme-status.ts';
import type { Store } from '../../../src/store/store.ts';
import { StoreAcme } from '../../../src/store/store-acme.ts';
import { StoreHttpDirectory } from '../../../src/store/store-http-directory.ts';
import { makeCertificate } from '../../support/certs.ts';
import { license, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

async function lab(store: Store): Promise<number> {
  const owner = await user(store);
  return (await license(store, owner.id)).id;
}

const target = { targetHost: '127.0.0.1', targetPort: 8080 };

export function acmeTests(h: StoreHarness): void {
  describe('acme', () => {
    test('an ACME domain takes exact https names before it has a certificate, never wildcards or uploads', async (t) => {
      const store = await h.store(t);
      const licenseId = await lab(store);
      const pair = await makeCertificate(['example.com', 'app.example.com', '*.api.example.com']);
      const refused = await rejectsWith(
        store.domains.create({
          name: 'example.com',
          acme: true,
          certificate: pair.cert,
          privateKey: pair.key,
        }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal(refused.field, 'certificate');
      const example = await store.domains.create({ name: 'example.com', acme: true });
      assert.equal(example.acme, true);
      assert.deepEqual(example.acmeStatus, PENDING_STATUS);
      assert.equal(example.certificate, null);

      const secure = await store.mappings.create({
        licenseId,
        protocol: 'https',
        hostnames: ['app.example.com'],
        ...target,
      });
      assert.deepEqual(secure.hostnames, ['app.example.com']);
      const wildcard = await rejectsWith(
        store.mappings.create({ licenseId, protocol: 'https', hostnames: ['*.dev.example.com'], ...target }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.match(
        wildcard.message,
        /^hostnames: \*\.dev\.example\.com: .*ACME \(HTTP-01\), which cannot issue wildcard/,
      );
      // Plain http names are no business of the certificate: wildcards are fine there.
      await store.mappings.create({
        licenseId,
        protocol: 'http',
        hostnames: ['*.dev.example.com'],
        ...target,
      });

      const upload = await rejectsWith(
        store.domains.update(example.id, { certificate: pair.cert, privateKey: pair.key }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.match(upload.message, /set acme to false to upload one/);
      // Off again: the https names need a certificate, so one must come with the switch.
      const bare = await rejectsWith(
        store.domains.update(example.id, { acme: false }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal(bare.field, 'certificate');
      const off = await store.domains.update(example.id, {
        acme: false,
        certificate: pair.cert,
        privateKey: pair.key,
      });
      assert.equal(off.acme, false);
      assert.equal(off.acmeStatus, null);

      // On again is refused while a wildcard https name relies on the uploaded certificate.
      await store.mappings.create({
        licenseId,
        protocol: 'https',
        hostnames: ['*.api.example.com'],
        ...target,
      });
      const on = await rejectsWith(
        store.domains.update(example.id, { acme: true }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal(on.field, 'acme');
      assert.match(on.message, /\*\.api\.example\.com/);
    });

    test('the manager sees ACME domains with their https names, and its certificates reach the router', async (t) => {
      const store = await h.store(t);
      const licenseId = await lab(store);
      const acme = new StoreAcme(store);
      let changes = 0;
      const stop = acme.onChange(() => changes++);
      t.after(stop);
      const example = await store.domains.create({ name: 'example.com', acme: true });
      const uploaded = await makeCertificate(['other.net']);
      await store.domains.create({ name: 'other.net', certificate: uploaded.cert, privateKey: uploaded.key });
      const off = await store.domains.create({ name: 'off.org', acme: true, enabled: false });
      assert.ok(changes >= 3, 'domain changes are heard');
      const before = changes;
      await store.mappings.create({
        licenseId,
        protocol: 'https',
        hostnames: ['app.example.com'],
        ...target,
      });
      await store.mappings.create({ licenseId, protocol: 'http', hostnames: ['www.example.com'], ...target });
      assert.ok(changes > before, 'mapping changes are heard');

      const [domain, ...others] = await acme.domains();
      assert.deepEqual(others, [], `only enabled ACME domains (not ${off.name})`);
      assert.deepEqual(domain, {
        id: example.id,
        name: 'example.com',
        certificate: null,
        httpsHostnames: ['app.example.com'],
        status: PENDING_STATUS,
      });

      const status = { ...PENDING_STATUS, state: 'failed' as const, names: ['example.com'], failures: 1 };
      await acme.saveStatus(example.id, status);
      assert.deepEqual((await store.domains.get(example.id))?.acmeStatus, status);

      const wrong = await makeCertificate(['elsewhere.com']);
      await rejectsWith(acme.saveCertificate(example.id, wrong, status), 'MUON_ERR_INVALID_INPUT');
      const router = new StoreHttpDirectory(store);
      let routerChanges = 0;
      t.after(router.onChange(() => routerChanges++));
      const issued = await makeCertificate(['example.com', 'app.example.com']);
      const valid = { ...status, state: 'valid' as const, failures: 0 };
      assert.equal(await acme.saveCertificate(example.id, issued, valid), true);
      assert.equal(routerChanges, 1, 'the router hears of it');
      const tls = (await router.snapshot()).domains.find((d) => d.name === 'example.com')?.tls;
      assert.deepEqual(tls, { cert: issued.cert, key: issued.key });
      const shown = await store.domains.get(example.id);
      assert.deepEqual(shown?.certificate?.names, ['example.com', 'app.example.com']);
      assert.deepEqual(shown?.acmeStatus, valid);
      assert.deepEqual((await acme.domains())[0]?.certificate?.names, ['example.com', 'app.example.com']);

      // A domain switched to uploads in the meantime keeps what it has.
      await store.domains.update(example.id, { acme: false });
      assert.equal(
        await acme.saveCertificate(
          example.id,
          await makeCertificate(['example.com', 'app.example.com']),
          valid,
        ),
        false,
      );
      assert.equal(
        (await store.domains.get(example.id))?.certificate?.fingerprint,
        shown?.certificate?.fingerprint,
      );
    });

    test('the account key is created once per directory, even by concurrent callers', async (t) => {
      const store = await h.store(t);
      const acme = new StoreAcme(store);
      let made = 0;
      const newKey = async () => `-----BEGIN PRIVATE KEY-----\nkey ${++made}\n-----END PRIVATE KEY-----\n`;
      const [a, b] = await Promise.all([
        acme.account('https://ca.test/dir', newKey),
        acme.account('https://ca.test/dir', newKey),
      ]);
      assert.equal(a.keyPem, b.keyPem);
      assert.equal((await acme.account('https://ca.test/dir', newKey)).keyPem, a.keyPem);
      assert.deepEqual({ accountUrl: a.accountUrl, email: a.email }, { accountUrl: null, email: null });
      await acme.updateAccount('https://ca.test/dir', {
        accountUrl: 'https://ca.test/acct/1',
        email: 'ops@example.com',
      });
      assert.deepEqual(await acme.account('https://ca.test/dir', newKey), {
        keyPem: a.keyPem,
        accountUrl: 'https://ca.test/acct/1',
        email: 'ops@example.com',
      });
      const other = await acme.account('https://other-ca.test/dir', newKey);
      assert.notEqual(other.keyPem, a.keyPem, 'one account per directory');
    });
  });
}
