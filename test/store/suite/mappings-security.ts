// Port mappings and security groups: CRUD, pages and filters, the uniqueness rules for public
// ports (per family) and domains (per protocol), and validation naming the field.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../../src/store/store.ts';
import { license, manualClock, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

async function lab(store: Store): Promise<{ ownerId: number; licenseId: number }> {
  const owner = await user(store);
  const l = await license(store, owner.id);
  return { ownerId: owner.id, licenseId: l.id };
}

export function mappingTests(h: StoreHarness): void {
  describe('mappings', () => {
    test('create, get, update, delete', async (t) => {
      const clock = manualClock();
      const store = await h.store(t, { now: clock.now });
      const { licenseId } = await lab(store);
      const ssh = await store.mappings.create({
        licenseId,
        publicPort: 2222,
        targetHost: '127.0.0.1',
        targetPort: 22,
      });
      assert.deepEqual(ssh, {
        id: ssh.id,
        licenseId,
        protocol: 'tcp',
        publicPort: 2222,
        domain: null,
        targetHost: '127.0.0.1',
        targetPort: 22,
        enabled: true,
        uploadLimit: null,
        downloadLimit: null,
        maxConnections: null,
        securityGroupId: null,
        proxyProtocol: null,
        hostnames: [],
        addForwardedHeaders: false,
        rewriteHost: false,
        basicAuth: null,
        description: null,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      });
      assert.deepEqual(await store.mappings.get(ssh.id), ssh);
      assert.deepEqual(await store.mappings.findByPort('tcp', 2222), ssh);
      assert.equal(await store.mappings.findByPort('udp', 2222), undefined);

      clock.advance(1000);
      const group = await store.securityGroups.create({ name: 'office' });
      const moved = await store.mappings.update(ssh.id, {
        publicPort: 2223,
        targetHost: 'db.internal',
        targetPort: 5432,
        enabled: false,
        uploadLimit: 10_000,
        maxConnections: 8,
        securityGroupId: group.id,
        proxyProtocol: 'v1',
        description: 'postgres',
      });
      assert.equal(moved.maxConnections, 8);
      assert.equal(moved.proxyProtocol, 'v1');
      assert.equal(moved.publicPort, 2223);
      assert.equal(moved.targetHost, 'db.internal');
      assert.equal(moved.enabled, false);
      assert.equal(moved.uploadLimit, 10_000);
      assert.equal(moved.securityGroupId, group.id);
      assert.deepEqual(moved.updatedAt, clock.now());
      const cleared = await store.mappings.update(ssh.id, { securityGroupId: null, description: null });
      assert.equal(cleared.securityGroupId, null);
      assert.equal(cleared.description, null);
      assert.equal(cleared.publicPort, 2223, 'fields not in the patch stay');
      assert.equal(cleared.proxyProtocol, 'v1');
      assert.equal((await store.mappings.update(ssh.id, { proxyProtocol: 'v2' })).proxyProtocol, 'v2');
      await rejectsWith(store.mappings.update(ssh.id, { protocol: 'udp' }), 'MUON_ERR_INVALID_INPUT');
      assert.equal((await store.mappings.update(ssh.id, { proxyProtocol: null })).proxyProtocol, null);

      await store.mappings.delete(ssh.id);
      assert.equal(await store.mappings.get(ssh.id), undefined);
      await rejectsWith(store.mappings.delete(ssh.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.mappings.update(ssh.id, { enabled: true }), 'MUON_ERR_NOT_FOUND');
    });

    test('a public port is unique per family: tcp, http and https share; udp is separate', async (t) => {
      const store = await h.store(t);
      const { licenseId } = await lab(store);
      const target = { targetHost: 'localhost', targetPort: 80 };
      await store.mappings.create({ licenseId, protocol: 'tcp', publicPort: 8080, ...target });
      const clash = await rejectsWith(
        store.mappings.create({ licenseId, protocol: 'http', publicPort: 8080, ...target }),
        'MUON_ERR_PORT_CONFLICT',
      );
      assert.match(clash.message, /^publicPort: TCP port 8080/);
      await store.mappings.create({ licenseId, protocol: 'udp', publicPort: 8080, ...target });
      await rejectsWith(
        store.mappings.create({ licenseId, protocol: 'udp', publicPort: 8080, ...target }),
        'MUON_ERR_PORT_CONFLICT',
      );
      const other = await store.mappings.create({
        licenseId,
        protocol: 'https',
        publicPort: 8443,
        ...target,
      });
      await rejectsWith(store.mappings.update(other.id, { publicPort: 8080 }), 'MUON_ERR_PORT_CONFLICT');
      await rejectsWith(
        store.mappings.update(other.id, { protocol: 'tcp', publicPort: 8080 }),
        'MUON_ERR_PORT_CONFLICT',
      );
    });

    test('http and https mappings may be reached by domain; a domain is unique per protocol', async (t) => {
      const store = await h.store(t);
      const { licenseId } = await lab(store);
      const target = { targetHost: 'localhost', targetPort: 3000 };
      const app = await store.mappings.create({
        licenseId,
        protocol: 'https',
        domain: 'App.Example.COM.',
        ...target,
      });
      assert.equal(app.domain, 'app.example.com', 'domains are stored lower case, without a final dot');
      assert.equal(app.publicPort, null);
      await store.mappings.create({ licenseId, protocol: 'http', domain: 'app.example.com', ...target });
      const taken = await rejectsWith(
        store.mappings.create({ licenseId, protocol: 'https', domain: 'APP.example.com', ...target }),
        'MUON_ERR_CONFLICT',
      );
      assert.match(taken.message, /^domain: /);
      await store.mappings.create({
        licenseId,
        protocol: 'https',
        domain: '*.example.com',
        publicPort: 443,
        ...target,
      });
    });

    test('validation names the field', async (t) => {
      const store = await h.store(t);
      const { licenseId } = await lab(store);
      const base = { licenseId, targetHost: 'localhost', targetPort: 80 };
      const cases: [Parameters<Store['mappings']['create']>[0], RegExp][] = [
        [{ ...base, protocol: 'tcp' }, /^publicPort: required/],
        [{ ...base, protocol: 'udp', publicPort: 53, domain: 'x.example.com' }, /^domain: /],
        [{ ...base, protocol: 'http' }, /^publicPort: an http or https mapping/],
        [{ ...base, protocol: 'ftp' as 'tcp', publicPort: 21 }, /^protocol: /],
        [{ ...base, publicPort: 0 }, /^publicPort: /],
        [{ ...base, publicPort: 65536 }, /^publicPort: /],
        [{ ...base, publicPort: 80, targetPort: 1.5 }, /^targetPort: /],
        [{ ...base, publicPort: 80, targetHost: '' }, /^targetHost: /],
        [{ ...base, protocol: 'http', domain: 'not a domain' }, /^domain: /],
        [{ ...base, publicPort: 80, uploadLimit: -5 }, /^uploadLimit: /],
        [{ ...base, publicPort: 80, maxConnections: 0 }, /^maxConnections: /],
        [{ ...base, publicPort: 80, maxConnections: 2.5 }, /^maxConnections: /],
        [{ ...base, publicPort: 80, proxyProtocol: 'v3' as 'v1' }, /^proxyProtocol: must be v1, v2 or null/],
        [{ ...base, protocol: 'udp', publicPort: 53, proxyProtocol: 'v1' }, /^proxyProtocol: a udp mapping/],
      ];
      for (const [input, message] of cases) {
        const error = await rejectsWith(store.mappings.create(input), 'MUON_ERR_INVALID_INPUT');
        assert.match(error.message, message);
      }
      await rejectsWith(
        store.mappings.create({ ...base, licenseId: 9999, publicPort: 80 }),
        'MUON_ERR_NOT_FOUND',
      );
      await rejectsWith(
        store.mappings.create({ ...base, publicPort: 80, securityGroupId: 9999 }),
        'MUON_ERR_NOT_FOUND',
      );
    });

    test('list filters by license, owner, protocol, enabled, port and group, and pages', async (t) => {
      const store = await h.store(t);
      const a = await lab(store);
      const bob = await user(store, 'bob');
      const b = await license(store, bob.id, 'b');
      const group = await store.securityGroups.create({ name: 'g' });
      for (let i = 0; i < 6; i++) {
        await store.mappings.create({
          licenseId: a.licenseId,
          protocol: i % 2 === 0 ? 'tcp' : 'udp',
          publicPort: 10_000 + i,
          targetHost: 'localhost',
          targetPort: 1000 + i,
          enabled: i !== 3,
          securityGroupId: i === 4 ? group.id : null,
        });
      }
      await store.mappings.create({ licenseId: b.id, publicPort: 20_000, targetHost: 'h', targetPort: 1 });
      assert.equal((await store.mappings.list()).total, 7);
      const page = await store.mappings.list({ licenseId: a.licenseId, limit: 4, offset: 4 });
      assert.equal(page.total, 6);
      assert.deepEqual(
        page.items.map((m) => m.publicPort),
        [10_004, 10_005],
      );
      assert.equal((await store.mappings.list({ ownerId: bob.id })).total, 1);
      assert.equal((await store.mappings.list({ protocol: 'udp' })).total, 3);
      assert.deepEqual(
        (await store.mappings.list({ enabled: false })).items.map((m) => m.publicPort),
        [10_003],
      );
      assert.equal((await store.mappings.list({ publicPort: 20_000 })).items[0]?.licenseId, b.id);
      assert.equal((await store.mappings.list({ securityGroupId: group.id })).total, 1);
      assert.equal((await store.mappings.listByLicense(a.licenseId)).length, 6);
    });

    test('deleting a license deletes its mappings', async (t) => {
      const store = await h.store(t);
      const { licenseId } = await lab(store);
      const m = await store.mappings.create({ licenseId, publicPort: 9000, targetHost: 'h', targetPort: 1 });
      await store.licenses.delete(licenseId);
      assert.equal(await store.mappings.get(m.id), undefined);
    });
  });
}

export function securityGroupTests(h: StoreHarness): void {
  describe('security groups', () => {
    test('create with rules in evaluation order; add, update, delete and replace rules', async (t) => {
      const store = await h.store(t);
      const group = await store.securityGroups.create({ name: 'office', description: 'the office' }, [
        { action: 'deny', cidr: '0.0.0.0/0', priority: 100 },
        { action: 'allow', cidr: '10.0.0.0/8', priority: 10 },
        { action: 'allow', cidr: '2001:DB8::/32', priority: 10 },
      ]);
      assert.equal(group.description, 'the office');
      assert.equal(group.defaultAction, 'allow', 'a group allows by default');
      let rules = await store.securityGroups.rules(group.id);
      assert.deepEqual(
        rules.map((r) => [r.action, r.cidr, r.priority]),
        [
          ['allow', '10.0.0.0/8', 10],
          ['allow', '2001:db8::/32', 10],
          ['deny', '0.0.0.0/0', 100],
        ],
      );
      const single = await store.securityGroups.addRule(group.id, {
        action: 'deny',
        cidr: '10.1.2.3',
        priority: 1,
      });
      assert.equal(single.cidr, '10.1.2.3/32');
      const changed = await store.securityGroups.updateRule(single.id, {
        priority: 200,
        description: 'last',
      });
      assert.equal(changed.priority, 200);
      assert.equal(changed.cidr, '10.1.2.3/32');
      assert.equal(changed.description, 'last');
      rules = await store.securityGroups.rules(group.id);
      assert.equal(rules.at(-1)?.id, single.id);
      await store.securityGroups.deleteRule(single.id);
      await rejectsWith(store.securityGroups.deleteRule(single.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.securityGroups.updateRule(single.id, { priority: 1 }), 'MUON_ERR_NOT_FOUND');

      const replaced = await store.securityGroups.replaceRules(group.id, [
        { action: 'allow', cidr: '::/0', priority: 5 },
      ]);
      assert.deepEqual(
        replaced.map((r) => r.cidr),
        ['::/0'],
      );
      assert.deepEqual(await store.securityGroups.rules(group.id), replaced);
      await rejectsWith(store.securityGroups.replaceRules(9999, []), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(
        store.securityGroups.addRule(9999, { action: 'allow', cidr: '::/0', priority: 1 }),
        'MUON_ERR_NOT_FOUND',
      );
    });

    test('the default action: set at creation or later, validated, kept by other updates', async (t) => {
      const store = await h.store(t);
      const closed = await store.securityGroups.create({ name: 'closed', defaultAction: 'deny' });
      assert.equal(closed.defaultAction, 'deny');
      assert.equal((await store.securityGroups.get(closed.id))?.defaultAction, 'deny');
      assert.equal(
        (await store.securityGroups.update(closed.id, { description: 'x' })).defaultAction,
        'deny',
      );
      const opened = await store.securityGroups.update(closed.id, { defaultAction: 'allow' });
      assert.equal(opened.defaultAction, 'allow');
      assert.equal((await store.securityGroups.list()).items[0]?.defaultAction, 'allow');
      const bad = await rejectsWith(
        store.securityGroups.update(closed.id, { defaultAction: 'maybe' as 'allow' }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.match(bad.message, /^defaultAction: /);
      await rejectsWith(
        store.securityGroups.create({ name: 'bad', defaultAction: 'block' as 'deny' }),
        'MUON_ERR_INVALID_INPUT',
      );
      await rejectsWith(store.securityGroups.update(9999, { defaultAction: 'deny' }), 'MUON_ERR_NOT_FOUND');
    });

    test('rules are validated: action, CIDR (no host bits), integer priority', async (t) => {
      const store = await h.store(t);
      const group = await store.securityGroups.create({ name: 'g' });
      const bad = [
        { action: 'maybe' as 'allow', cidr: '10.0.0.0/8', priority: 1 },
        { action: 'allow' as const, cidr: '10.0.0.1/8', priority: 1 },
        { action: 'allow' as const, cidr: '10.0.0.0/33', priority: 1 },
        { action: 'allow' as const, cidr: 'example.com', priority: 1 },
        { action: 'allow' as const, cidr: '10.0.0.0/8', priority: 1.5 },
      ];
      for (const rule of bad)
        await rejectsWith(store.securityGroups.addRule(group.id, rule), 'MUON_ERR_INVALID_INPUT');
      const hostBits = await rejectsWith(
        store.securityGroups.addRule(group.id, { action: 'allow', cidr: '192.168.1.1/24', priority: 1 }),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.match(hostBits.message, /did you mean 192\.168\.1\.0\/24/);
      // A bad rule in a batch stores nothing.
      await rejectsWith(
        store.securityGroups.replaceRules(group.id, [
          { action: 'allow', cidr: '::/0', priority: 1 },
          { action: 'allow', cidr: 'nope', priority: 2 },
        ]),
        'MUON_ERR_INVALID_INPUT',
      );
      assert.deepEqual(await store.securityGroups.rules(group.id), []);
    });

    test('names are unique; a group in use cannot be deleted; list pages and searches', async (t) => {
      const store = await h.store(t);
      const { licenseId } = await lab(store);
      const office = await store.securityGroups.create({ name: 'office' });
      await rejectsWith(store.securityGroups.create({ name: 'office' }), 'MUON_ERR_CONFLICT');
      const home = await store.securityGroups.create({ name: 'home' });
      await rejectsWith(store.securityGroups.update(home.id, { name: 'office' }), 'MUON_ERR_CONFLICT');
      assert.equal((await store.securityGroups.update(home.id, { description: 'x' })).description, 'x');
      const m = await store.mappings.create({
        licenseId,
        publicPort: 2222,
        targetHost: 'h',
        targetPort: 22,
        securityGroupId: office.id,
      });
      const inUse = await rejectsWith(store.securityGroups.delete(office.id), 'MUON_ERR_CONFLICT');
      assert.match(inUse.message, /used by mappings/);
      await store.mappings.update(m.id, { securityGroupId: null });
      await store.securityGroups.delete(office.id);
      await rejectsWith(store.securityGroups.delete(office.id), 'MUON_ERR_NOT_FOUND');
      await rejectsWith(store.securityGroups.update(office.id, { name: 'z' }), 'MUON_ERR_NOT_FOUND');
      for (let i = 0; i < 4; i++) await store.securityGroups.create({ name: `team-${i}` });
      const page = await store.securityGroups.list({ search: 'TEAM', limit: 3 });
      assert.equal(page.total, 4);
      assert.deepEqual(
        page.items.map((g) => g.name),
        ['team-0', 'team-1', 'team-2'],
      );
      assert.equal((await store.securityGroups.get(home.id))?.name, 'home');
    });
  });
}
