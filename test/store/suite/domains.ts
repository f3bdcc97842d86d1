// Domains and the host names of http/https mappings: a certificate is checked before it is
// stored and only its metadata comes back (never the key); host names must lie under a
// registered domain, are unique per protocol, and an https one must be covered by its domain's
// certificate, now and after the certificate is replaced. The router's view (StoreHttpDirectory)
// holds only what is enabled, and hears of every change.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../../src/store/store.ts';
import { StoreHttpDirectory } from '../../../src/store/store-http-directory.ts';
import { makeCertificate } from '../../support/certs.ts';
import { license, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

async function lab(store: Store): Promise<number> {
  const owner = await user(store);
  return (await license(store, owner.id)).id;
}

const target = { targetHost: '127.0.0.1', targetPort: 8080 };

export function domainTests(h: StoreHarness): void {
  describe('domains and host names', () => {
    test('a domain with a certificate shows its metadata, never its key', async (t) => {
      const store = await h.store(t);
      const pair = await makeCertificate(['example.com', '*.example.com']);
      const created = await store.domains.create({
        name: 'Example.COM.',
        certificate: pair.cert,
        privateKey: pair.key,
        forceHttps: true,
      });
      assert.equal(created.name, 'example.com');
      assert.equal(created.forceHttps, true);
      assert.equal(created.enabled, true);
      assert.equal(created.certificate?.subject, 'CN=example.com');
      assert.deepEqual(created.certificate?.names, ['example.com', '*.example.com']);
      assert.match(created.certificate?.fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.ok((created.certificate?.notAfter.getTime() ?? 0) > Date.now());
      const text = JSON.stringify(await store.domains.list());
      assert.doesNotMatch(text, /PRIVATE KEY/);
      assert.doesNotMatch(text, /BEGIN CERTIFICATE/);

      const plain = await store.domains.create({ name: 'plain.net' });
      assert.equal(plain.certificate, null);
      const dup = await rejectsWith(store.domains.create({ name: 'EXAMPLE.com' }), 'MUON_ERR_CONFLICT');
      assert.match(dup.message, /^name: /);
      for (const name of ['', 'localhost', 'exa mple.com', '*.example.com', '192.0.2.1', '-a.com']) {
        const bad = await rejectsWith(store.domains.create({ name }), 'MUON_ERR_INVALID_INPUT');
        assert.equal(bad.field, 'name', name);
      }
      assert.equal((await store.domains.list({ search: 'plain' })).total, 1);
      const off = await store.domains.update(plain.id, { enabled: false, description: 'later' });
      assert.equal(off.enabled, false);
      assert.equal(off.description, 'later');
      await store.domains.delete(plain.id);
      assert.equal(await store.domains.get(plain.id), undefined);
    });

    test('certificates are checked: key, validity, names, both halves', async (t) => {
      const store = await h.store(t);
      const good = await makeCertificate(['example.com']);
      const other = await makeCertificate(['example.com']);
      const expired = await makeCertificate(['example.com'], {
        notBefore: new Date(Date.now() - 10 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      });
      const elsewhere = await makeCertificate(['www.example.org']);
      const cases: [Parameters<Store['domains']['create']>[0], string, RegExp][] = [
        [
          { name: 'example.com', certificate: good.cert, privateKey: other.key },
          'privateKey',
          /does not belong/,
        ],
        [
          { name: 'example.com', certificate: expired.cert, privateKey: expired.key },
          'certificate',
          /expired/,
        ],
        [
          { name: 'example.com', certificate: elsewhere.cert, privateKey: elsewhere.key },
          'certificate',
          /does not cover example\.com/,
        ],
        [
          { name: 'example.com', certificate: 'hello', privateKey: good.key },
          'certificate',
          /not a PEM certificate/,
        ],
        [
          { name: 'example.com', certificate: good.cert, privateKey: 'nope' },
          'privateKey',
          /not an unencrypted PEM/,
        ],
        [{ name: 'example.com', certificate: good.cert }, 'privateKey', /required/],
        [{ name: 'example.com', privateKey: good.key }, 'certificate', /required/],
      ];
      for (const [input, field, message] of cases) {
        const error = await rejectsWith(store.domains.create(input), 'MUON_ERR_INVALID_INPUT');
        assert.equal(error.field, field, error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /PRIVATE KEY/);
      }
      const wildcardOnly = await makeCertificate(['*.example.com']);
      await store.domains.create({
        name: 'example.com',
        certificate: wildcardOnly.cert,
        privateKey: wildcardOnly.key,
      });
    });

    test('host names lie under a domain, are unique per protocol, and https ones need the certificate', async (t) => {
      const store = await h.store(t);
      const licenseId = await lab(store);
      const pair = await makeCertificate(['example.com', 'app.example.com', '*.api.example.com']);
      const example = await store.domains.create({
        name: 'example.com',
        certificate: pair.cert,
        privateKey: pair.key,
      });
      await store.domains.create({ name: 'team.example.com' });

      const web = await store.mappings.create({
        licenseId,
        protocol: 'http',
        hostnames: ['App.Example.com.', '*.team.example.com', 'app.example.com'],
        ...target,
      });
      assert.deepEqual(web.hostnames, ['app.example.com', '*.team.example.com']);
      assert.equal(web.domain, 'app.example.com');
      assert.equal(web.addForwardedHeaders, true, 'on by default for http');
      assert.deepEqual((await store.mappings.get(web.id))?.hostnames, web.hostnames);

      const taken = await rejectsWith(
        store.mappings.create({
          licenseId,
          protocol: 'http',
          hostnames: ['x.team.example.com', 'app.example.com'],
          ...target,
        }),
        'MUON_ERR_CONFLICT',
      );
      assert.equal(taken.field, 'hostnames');
      const secure = await store.mappings.create({
        licenseId,
        protocol: 'https',
        hostnames: ['app.example.com', '*.api.example.com'],
        ...target,
      });
      assert.deepEqual(
        secure.hostnames,
        ['app.example.com', '*.api.example.com'],
        'https may reuse an http name',
      );

      const refused: [Parameters<Store['mappings']['create']>[0], RegExp][] = [
        [
          { licenseId, protocol: 'http', hostnames: ['app.elsewhere.org'], ...target },
          /not under a registered domain/,
        ],
        [
          { licenseId, protocol: 'https', hostnames: ['other.example.com'], ...target },
          /not covered by the certificate/,
        ],
        [
          { licenseId, protocol: 'https', hostnames: ['a.team.example.com'], ...target },
          /has no certificate/,
        ],
        [{ licenseId, protocol: 'http', hostnames: ['not a name'], ...target }, /is not a host name/],
        [{ licenseId, protocol: 'http', hostnames: ['a.*.example.com'], ...target }, /is not a host name/],
        [
          { licenseId, protocol: 'tcp', publicPort: 2000, hostnames: ['z.example.com'], ...target },
          /only http and https/,
        ],
      ];
      for (const [input, message] of refused) {
        const error = await rejectsWith(store.mappings.create(input), 'MUON_ERR_INVALID_INPUT');
        assert.match(error.message, message);
        assert.match(error.message, /^hostnames: /);
      }

      const moved = await store.mappings.update(web.id, { hostnames: ['www.example.com'] });
      assert.deepEqual(moved.hostnames, ['www.example.com']);
      await store.mappings.create({
        licenseId,
        protocol: 'http',
        hostnames: ['x.team.example.com'],
        ...target,
      });

      // The certificate must keep covering the https names in use.
      const narrower = await makeCertificate(['example.com', 'app.example.com']);
      const uncovered = await rejectsWith(
        store.domains.update(example.id, { certificate: narrower.cert, privateKey: narrower.key }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal(uncovered.field, 'certificate');
      assert.match(uncovered.message, /\*\.api\.example\.com/);
      await rejectsWith(
        store.domains.update(example.id, { certificate: null, privateKey: null }),
        'MUON_ERR_INVALID_INPUT',
      );
      const inUse = await rejectsWith(store.domains.delete(example.id), 'MUON_ERR_CONFLICT');
      assert.match(inUse.message, /app\.example\.com/);
      await store.mappings.delete(secure.id);
      await store.domains.update(example.id, { certificate: narrower.cert, privateKey: narrower.key });
    });

    test('basic auth keeps its hash through other changes and never shows it', async (t) => {
      const store = await h.store(t);
      const licenseId = await lab(store);
      await store.domains.create({ name: 'example.com' });
      const m = await store.mappings.create({
        licenseId,
        protocol: 'http',
        hostnames: ['a.example.com'],
        basicAuth: { username: 'ali', passwordHash: '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA' },
        ...target,
      });
      assert.deepEqual(m.basicAuth, { username: 'ali' });
      await store.mappings.update(m.id, { description: 'x', rewriteHost: true });
      const snapshot = await new StoreHttpDirectory(store).snapshot();
      assert.equal(snapshot.routes[0]?.basicAuth?.passwordHash, '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA');
      assert.equal(snapshot.routes[0]?.rewriteHost, true);
      assert.doesNotMatch(JSON.stringify(await store.mappings.get(m.id)), /argon2/);
      const bad = await rejectsWith(
        store.mappings.update(m.id, { basicAuth: { username: 'a:b', passwordHash: '$argon2id$x' } }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.equal(bad.field, 'basicAuth');
      assert.equal((await store.mappings.update(m.id, { basicAuth: null })).basicAuth, null);
    });

    test('the router sees enabled routes only, and hears of every change', async (t) => {
      const store = await h.store(t);
      const licenseId = await lab(store);
      const directory = new StoreHttpDirectory(store);
      let changes = 0;
      const stop = directory.onChange(() => changes++);
      t.after(stop);
      const pair = await makeCertificate(['example.com', '*.example.com']);
      const example = await store.domains.create({
        name: 'example.com',
        certificate: pair.cert,
        privateKey: pair.key,
      });
      assert.equal(changes, 1, 'a new domain');
      const m = await store.mappings.create({
        licenseId,
        protocol: 'https',
        hostnames: ['a.example.com'],
        ...target,
      });
      assert.equal(changes, 2, 'a new mapping');

      let snapshot = await directory.snapshot();
      assert.deepEqual(snapshot.routes, [
        {
          hostname: 'a.example.com',
          protocol: 'https',
          licenseId: String(licenseId),
          mappingId: String(m.id),
          targetHost: '127.0.0.1',
          targetPort: 8080,
          addForwardedHeaders: true,
          rewriteHost: false,
          basicAuth: null,
        },
      ]);
      assert.deepEqual(snapshot.domains, [
        {
          id: String(example.id),
          name: 'example.com',
          forceHttps: false,
          tls: { cert: pair.cert, key: pair.key },
        },
      ]);

      await store.domains.update(example.id, { enabled: false });
      assert.equal(changes, 3);
      snapshot = await directory.snapshot();
      assert.deepEqual([snapshot.routes.length, snapshot.domains.length], [0, 0]);
      await store.domains.update(example.id, { enabled: true });
      await store.mappings.update(m.id, { enabled: false });
      assert.equal((await directory.snapshot()).routes.length, 0);
      await store.mappings.update(m.id, { enabled: true });
      await store.licenses.update(licenseId, { enabled: false });
      assert.equal((await directory.snapshot()).routes.length, 0);
      await store.licenses.update(licenseId, { enabled: true });
      assert.equal((await directory.snapshot()).routes.length, 1);
      assert.equal(changes, 8);

      // Inside a transaction the announcement waits for the commit.
      await store.transaction(async (tx) => {
        await tx.domains.update(example.id, { forceHttps: true });
        assert.equal(changes, 8);
      });
      assert.equal(changes, 9);
    });
  });
}
