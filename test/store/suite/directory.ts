// The store as the tunnel core sees it (StoreDirectory): lookups, change events after commits
// only, and the licenses declared in the server's YAML applied idempotently.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keyIdOf } from '../../../src/protocol/handshake.ts';
import type { LicenseRecord } from '../../../src/server/directory.ts';
import { applyDeclaredLicenses, CONFIG_USERNAME } from '../../../src/store/declared-licenses.ts';
import type { Store } from '../../../src/store/store.ts';
import { StoreDirectory } from '../../../src/store/store-directory.ts';
import { key, license, rejectsWith, user } from './fixtures.ts';
import type { StoreHarness } from './harness.ts';

/** Records change events; `take()` returns and clears them (sorted: a write may touch several). */
function recorder(directory: StoreDirectory) {
  let seen: string[] = [];
  const unsubscribe = directory.onChange((id) => seen.push(id));
  return {
    unsubscribe,
    take(): string[] {
      const out = seen.sort();
      seen = [];
      return out;
    },
  };
}

export function directoryTests(h: StoreHarness): void {
  describe('StoreDirectory', () => {
    test('finds a license by key id and by id, with its TCP and UDP mappings; enabled needs the owner enabled', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const alice = await user(store);
      const lab = await license(store, alice.id);
      const ssh = await store.mappings.create({
        licenseId: lab.id,
        publicPort: 2222,
        targetHost: '10.0.0.5',
        targetPort: 22,
      });
      const off = await store.mappings.create({
        licenseId: lab.id,
        publicPort: 2223,
        targetHost: '10.0.0.6',
        targetPort: 23,
        enabled: false,
      });
      const dns = await store.mappings.create({
        licenseId: lab.id,
        protocol: 'udp',
        publicPort: 53,
        targetHost: 'dns',
        targetPort: 53,
      });
      const web = await store.mappings.create({
        licenseId: lab.id,
        publicPort: 8080,
        targetHost: 'w',
        targetPort: 80,
        proxyProtocol: 'v2',
      });
      await store.mappings.create({
        licenseId: lab.id,
        protocol: 'http',
        domain: 'a.example.com',
        targetHost: 'w',
        targetPort: 80,
      });

      const unlimited = { uploadLimit: null, downloadLimit: null, maxConnections: null };
      const expected: LicenseRecord = {
        id: String(lab.id),
        name: 'lab',
        key: lab.key,
        enabled: true,
        ...unlimited,
        mappings: [
          {
            id: String(ssh.id),
            protocol: 'tcp',
            publicPort: 2222,
            targetHost: '10.0.0.5',
            targetPort: 22,
            enabled: true,
            ...unlimited,
            security: null,
            proxyProtocol: null,
          },
          {
            id: String(off.id),
            protocol: 'tcp',
            publicPort: 2223,
            targetHost: '10.0.0.6',
            targetPort: 23,
            enabled: false,
            ...unlimited,
            security: null,
            proxyProtocol: null,
          },
          {
            id: String(dns.id),
            protocol: 'udp',
            publicPort: 53,
            targetHost: 'dns',
            targetPort: 53,
            enabled: true,
            ...unlimited,
            security: null,
            proxyProtocol: null,
          },
          {
            id: String(web.id),
            protocol: 'tcp',
            publicPort: 8080,
            targetHost: 'w',
            targetPort: 80,
            enabled: true,
            ...unlimited,
            security: null,
            proxyProtocol: 'v2',
          },
        ],
      };
      // The port-mapped protocols; http and https ones (reached by host name) are the router's concern.
      const byPort = (record: LicenseRecord | undefined) =>
        record && {
          ...record,
          mappings: record.mappings.filter((m) => m.protocol === 'tcp' || m.protocol === 'udp'),
        };
      assert.deepEqual(byPort(await directory.findByKeyId(keyIdOf(lab.key))), expected);
      assert.deepEqual(byPort(await directory.getLicense(String(lab.id))), expected);
      assert.equal(await directory.findByKeyId(keyIdOf(key('unknown'))), undefined);
      for (const id of ['999', 'abc', '', '0', '-1', '1.5', '01', '99999999999']) {
        assert.equal(await directory.getLicense(id), undefined, id);
      }

      await store.users.update(alice.id, { enabled: false });
      assert.equal((await directory.getLicense(String(lab.id)))?.enabled, false);
      await store.users.update(alice.id, { enabled: true });
      await store.licenses.update(lab.id, { enabled: false });
      assert.equal((await directory.getLicense(String(lab.id)))?.enabled, false);

      const empty = await license(store, alice.id, 'empty');
      assert.deepEqual((await directory.getLicense(String(empty.id)))?.mappings, []);
    });

    test('carries limits, and the security group of each mapping with its rules in order and its default', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const alice = await user(store);
      const lab = await store.licenses.create({
        ownerId: alice.id,
        name: 'lab',
        key: key('limits'),
        uploadLimit: 1000,
        downloadLimit: 2000,
        maxConnections: 30,
      });
      const office = await store.securityGroups.create({ name: 'office', defaultAction: 'deny' }, [
        { action: 'allow', cidr: '10.0.0.0/8', priority: 20 },
        { action: 'deny', cidr: '10.9.0.0/16', priority: 10 },
        { action: 'allow', cidr: '2001:db8::/32', priority: 20 },
      ]);
      const empty = await store.securityGroups.create({ name: 'empty' });
      const target = { licenseId: lab.id, targetHost: 'h', targetPort: 1 };
      const a = await store.mappings.create({
        ...target,
        publicPort: 2001,
        securityGroupId: office.id,
        uploadLimit: 10,
        maxConnections: 3,
      });
      const b = await store.mappings.create({ ...target, publicPort: 2002, securityGroupId: office.id });
      const c = await store.mappings.create({ ...target, publicPort: 2003, securityGroupId: empty.id });
      const d = await store.mappings.create({ ...target, publicPort: 2004, downloadLimit: 20 });

      const record = await directory.getLicense(String(lab.id));
      assert.ok(record);
      assert.deepEqual(
        { up: record.uploadLimit, down: record.downloadLimit, max: record.maxConnections },
        { up: 1000, down: 2000, max: 30 },
      );
      const officePolicy = {
        id: String(office.id),
        defaultAction: 'deny',
        rules: [
          { action: 'deny', cidr: '10.9.0.0/16' },
          { action: 'allow', cidr: '10.0.0.0/8' },
          { action: 'allow', cidr: '2001:db8::/32' },
        ],
      };
      assert.deepEqual(
        record.mappings.map((m) => [m.id, m.uploadLimit, m.downloadLimit, m.maxConnections, m.security]),
        [
          [String(a.id), 10, null, 3, officePolicy],
          [String(b.id), null, null, null, officePolicy],
          [String(c.id), null, null, null, { id: String(empty.id), defaultAction: 'allow', rules: [] }],
          [String(d.id), null, 20, null, null],
        ],
      );
      await store.securityGroups.update(office.id, { defaultAction: 'allow' });
      const again = await directory.findByKeyId(keyIdOf(key('limits')));
      assert.equal(again?.mappings[0]?.security?.defaultAction, 'allow');
    });

    test('announces committed changes to a license, its owner, its mappings and their security rules', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const events = recorder(directory);
      const alice = await user(store, 'alice');
      assert.deepEqual(events.take(), [], 'a new user has no licenses');
      const lab = await license(store, alice.id, 'lab');
      const home = await license(store, alice.id, 'home');
      const [labId, homeId] = [String(lab.id), String(home.id)];
      assert.deepEqual(events.take(), [homeId, labId].sort());

      // Each listener call sees the committed state.
      const reads: Promise<boolean | undefined>[] = [];
      const unsubscribe = directory.onChange((id) => {
        if (id === labId) reads.push(directory.getLicense(id).then((r) => r?.enabled));
      });
      await store.licenses.update(lab.id, { enabled: false });
      assert.deepEqual(events.take(), [labId]);
      assert.deepEqual(await Promise.all(reads), [false]);
      unsubscribe();

      await store.licenses.resetKey(lab.id);
      assert.deepEqual(events.take(), [labId]);
      const group = await store.securityGroups.create({ name: 'office' });
      const m = await store.mappings.create({
        licenseId: lab.id,
        publicPort: 2222,
        targetHost: 'h',
        targetPort: 22,
      });
      assert.deepEqual(events.take(), [labId]);
      await store.mappings.update(m.id, { targetPort: 23, securityGroupId: group.id });
      assert.deepEqual(events.take(), [labId]);
      const rule = await store.securityGroups.addRule(group.id, {
        action: 'deny',
        cidr: '::/0',
        priority: 1,
      });
      await store.securityGroups.updateRule(rule.id, { priority: 2 });
      await store.securityGroups.deleteRule(rule.id);
      await store.securityGroups.replaceRules(group.id, []);
      assert.deepEqual(events.take(), [labId, labId, labId, labId]);
      await store.securityGroups.update(group.id, { defaultAction: 'deny' });
      assert.deepEqual(events.take(), [labId], 'the default action decides who gets in');
      await store.securityGroups.update(group.id, { name: 'office-2', description: 'renamed' });
      assert.deepEqual(events.take(), [], 'a name or description does not');
      const unused = await store.securityGroups.create({ name: 'unused' });
      await store.securityGroups.update(unused.id, { defaultAction: 'deny' });
      await store.securityGroups.addRule(unused.id, { action: 'allow', cidr: '::1', priority: 1 });
      assert.deepEqual(events.take(), [], 'a group no mapping uses concerns no license');

      await store.licenses.setOnline(lab.id, true);
      await store.users.update(alice.id, { username: 'alice2', passwordHash: 'x' });
      assert.deepEqual(events.take(), [], 'presence, names and passwords do not change what a client may do');

      await store.users.update(alice.id, { enabled: false });
      assert.deepEqual(events.take(), [homeId, labId].sort());
      await store.mappings.delete(m.id);
      assert.deepEqual(events.take(), [labId]);
      await store.licenses.delete(home.id);
      assert.deepEqual(events.take(), [homeId]);
      assert.equal(await directory.getLicense(homeId), undefined);
      await store.users.delete(alice.id);
      assert.deepEqual(events.take(), [labId]);

      // Failed writes announce nothing.
      await rejectsWith(store.licenses.update(lab.id, { enabled: true }), 'MUON_ERR_NOT_FOUND');
      assert.deepEqual(events.take(), []);
      events.unsubscribe();
      const bob = await user(store, 'bob');
      await license(store, bob.id);
      assert.deepEqual(events.take(), [], 'unsubscribed');
    });

    test('a transaction announces its changes once, after the commit; a rollback announces nothing', async (t) => {
      const store = await h.store(t);
      const events = recorder(new StoreDirectory(store));
      const alice = await user(store);
      const lab = await license(store, alice.id);
      events.take();

      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.licenses.update(lab.id, { enabled: false });
          await tx.mappings.create({ licenseId: lab.id, publicPort: 80, targetHost: 'h', targetPort: 80 });
          assert.deepEqual(events.take(), [], 'nothing before the commit');
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.deepEqual(events.take(), []);
      assert.equal((await store.licenses.get(lab.id))?.enabled, true, 'rolled back');
      assert.equal((await store.mappings.list()).total, 0);

      const created = await store.transaction(async (tx) => {
        await tx.licenses.update(lab.id, { enabled: false });
        return tx.mappings.create({ licenseId: lab.id, publicPort: 80, targetHost: 'h', targetPort: 80 });
      });
      assert.deepEqual(events.take(), [String(lab.id)], 'one event per license');
      assert.equal((await store.mappings.get(created.id))?.publicPort, 80);
    });

    test('a listener that throws does not stop the others or fail the write', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      directory.onChange(() => {
        throw new Error('listener bug');
      });
      const events = recorder(directory);
      const alice = await user(store);
      const lab = await license(store, alice.id);
      assert.deepEqual(events.take(), [String(lab.id)]);
    });
  });

  describe('applyDeclaredLicenses', () => {
    const declared = (over: Partial<Record<'lab' | 'ci', Partial<LicenseRecord>>> = {}): LicenseRecord[] => [
      {
        id: 'lab',
        name: 'lab',
        key: key('yaml-lab'),
        enabled: true,
        mappings: [
          {
            id: 'lab:2222',
            protocol: 'tcp',
            publicPort: 2222,
            targetHost: '127.0.0.1',
            targetPort: 22,
            enabled: true,
          },
          {
            id: 'lab:8080',
            protocol: 'tcp',
            publicPort: 8080,
            targetHost: '127.0.0.1',
            targetPort: 80,
            enabled: true,
          },
        ],
        ...over.lab,
      },
      { id: 'ci', name: 'ci', key: key('yaml-ci'), enabled: false, mappings: [], ...over.ci },
    ];

    async function stateOf(store: Store) {
      const directory = new StoreDirectory(store);
      const owner = await store.users.getByUsername(CONFIG_USERNAME);
      assert.ok(owner);
      const records = [];
      for (const l of await store.licenses.listByOwner(owner.id)) {
        const r = await directory.getLicense(String(l.id));
        assert.ok(r);
        records.push({
          name: r.name,
          key: r.key,
          enabled: r.enabled,
          mappings: r.mappings.map(
            (m) => `${m.publicPort}->${m.targetHost}:${m.targetPort}${m.enabled ? '' : ' off'}`,
          ),
        });
      }
      return records.sort((a, b) => a.name.localeCompare(b.name));
    }

    test('creates the config user, licenses and mappings; a second run changes and announces nothing', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const first = await applyDeclaredLicenses(store, declared());
      assert.deepEqual(first, {
        licenses: { created: 2, updated: 0, deleted: 0, unchanged: 0 },
        mappings: { created: 2, updated: 0, deleted: 0, unchanged: 0 },
      });
      const owner = await store.users.getByUsername(CONFIG_USERNAME);
      assert.equal(owner?.canLogIn, false, 'the config user has no password');
      assert.equal(owner?.role, 'user');
      assert.deepEqual(await stateOf(store), [
        { name: 'ci', key: key('yaml-ci'), enabled: false, mappings: [] },
        {
          name: 'lab',
          key: key('yaml-lab'),
          enabled: true,
          mappings: ['2222->127.0.0.1:22', '8080->127.0.0.1:80'],
        },
      ]);
      const found = await directory.findByKeyId(keyIdOf(key('yaml-lab')));
      assert.equal(found?.name, 'lab');

      const before = await store.licenses.listByOwner(owner?.id ?? 0);
      const events = recorder(directory);
      const again = await applyDeclaredLicenses(store, declared());
      assert.deepEqual(again, {
        licenses: { created: 0, updated: 0, deleted: 0, unchanged: 2 },
        mappings: { created: 0, updated: 0, deleted: 0, unchanged: 2 },
      });
      assert.deepEqual(events.take(), []);
      assert.deepEqual(await store.licenses.listByOwner(owner?.id ?? 0), before, 'not even updated_at moves');
      assert.equal((await store.users.list({ search: CONFIG_USERNAME })).total, 1);
    });

    test('brings the store in line with a changed YAML, announcing exactly the licenses that changed', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      await applyDeclaredLicenses(store, [
        ...declared(),
        { id: 'old', name: 'old', key: key('yaml-old'), enabled: true, mappings: [] },
      ]);
      const ids = new Map((await store.licenses.list()).items.map((l) => [l.name, String(l.id)]));
      const events = recorder(directory);
      const result = await applyDeclaredLicenses(
        store,
        declared({
          lab: {
            key: key('yaml-lab-2'),
            mappings: [
              {
                id: 'lab:2222',
                protocol: 'tcp',
                publicPort: 2222,
                targetHost: '127.0.0.1',
                targetPort: 2200,
                enabled: false,
              },
              {
                id: 'lab:9090',
                protocol: 'tcp',
                publicPort: 9090,
                targetHost: 'web',
                targetPort: 90,
                enabled: true,
              },
            ],
          },
        }),
      );
      assert.deepEqual(result, {
        licenses: { created: 0, updated: 1, deleted: 1, unchanged: 1 },
        mappings: { created: 1, updated: 1, deleted: 1, unchanged: 0 },
      });
      assert.deepEqual(events.take(), [ids.get('lab'), ids.get('old')].sort());
      assert.deepEqual(await stateOf(store), [
        { name: 'ci', key: key('yaml-ci'), enabled: false, mappings: [] },
        {
          name: 'lab',
          key: key('yaml-lab-2'),
          enabled: true,
          mappings: ['2222->127.0.0.1:2200 off', '9090->web:90'],
        },
      ]);
      assert.equal(await directory.findByKeyId(keyIdOf(key('yaml-lab'))), undefined, 'the old key is gone');

      // A port moving from one declared license to another in the same run.
      await applyDeclaredLicenses(
        store,
        declared({
          lab: { mappings: [] },
          ci: {
            enabled: true,
            mappings: [
              {
                id: 'ci:2222',
                protocol: 'tcp',
                publicPort: 2222,
                targetHost: 'ci',
                targetPort: 22,
                enabled: true,
              },
            ],
          },
        }),
      );
      assert.deepEqual(await stateOf(store), [
        { name: 'ci', key: key('yaml-ci'), enabled: true, mappings: ['2222->ci:22'] },
        { name: 'lab', key: key('yaml-lab'), enabled: true, mappings: [] },
      ]);
    });

    test('declared limits are stored, compared, and changed like any other field', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const limited = (up: number | null, max: number | null) =>
        declared({
          lab: { uploadLimit: up, maxConnections: 40 },
          ci: {
            mappings: [
              {
                id: 'ci:3000',
                protocol: 'tcp',
                publicPort: 3000,
                targetHost: 'ci',
                targetPort: 3000,
                enabled: true,
                downloadLimit: 5000,
                maxConnections: max,
              },
            ],
          },
        });
      await applyDeclaredLicenses(store, limited(1000, 2));
      const lab = await directory.findByKeyId(keyIdOf(key('yaml-lab')));
      assert.deepEqual([lab?.uploadLimit, lab?.downloadLimit, lab?.maxConnections], [1000, null, 40]);
      const ci = await directory.findByKeyId(keyIdOf(key('yaml-ci')));
      assert.deepEqual([ci?.mappings[0]?.downloadLimit, ci?.mappings[0]?.maxConnections], [5000, 2]);

      const events = recorder(directory);
      const same = await applyDeclaredLicenses(store, limited(1000, 2));
      assert.equal(same.licenses.unchanged, 2);
      assert.equal(same.mappings.unchanged, 3);
      assert.deepEqual(events.take(), []);

      const changed = await applyDeclaredLicenses(store, limited(null, 3));
      assert.deepEqual(changed.licenses, { created: 0, updated: 1, deleted: 0, unchanged: 1 });
      assert.deepEqual(changed.mappings, { created: 0, updated: 1, deleted: 0, unchanged: 2 });
      assert.deepEqual(events.take(), [lab?.id, ci?.id].sort());
      assert.equal((await directory.getLicense(lab?.id ?? ''))?.uploadLimit, null);
      assert.equal((await directory.getLicense(ci?.id ?? ''))?.mappings[0]?.maxConnections, 3);
    });

    test('declared UDP mappings and PROXY headers: tcp and udp on one port number are two mappings', async (t) => {
      const store = await h.store(t);
      const directory = new StoreDirectory(store);
      const tcp = {
        id: 'ci:5000',
        protocol: 'tcp' as const,
        publicPort: 5000,
        targetHost: 'ci',
        targetPort: 80,
      };
      const udp = {
        id: 'ci:udp:5000',
        protocol: 'udp' as const,
        publicPort: 5000,
        targetHost: 'ci',
        targetPort: 53,
      };
      const withMappings = (mappings: LicenseRecord['mappings']) => declared({ ci: { mappings } });
      const first = await applyDeclaredLicenses(
        store,
        withMappings([
          { ...tcp, enabled: true, proxyProtocol: 'v1' },
          { ...udp, enabled: true },
        ]),
      );
      assert.equal(first.mappings.created, 4);
      const ci = await directory.findByKeyId(keyIdOf(key('yaml-ci')));
      assert.deepEqual(
        ci?.mappings.map((m) => [m.protocol, m.publicPort, m.targetPort, m.proxyProtocol]),
        [
          ['tcp', 5000, 80, 'v1'],
          ['udp', 5000, 53, null],
        ],
      );
      const same = await applyDeclaredLicenses(
        store,
        withMappings([
          { ...tcp, enabled: true, proxyProtocol: 'v1' },
          { ...udp, enabled: true },
        ]),
      );
      assert.equal(same.mappings.unchanged, 4);

      const changed = await applyDeclaredLicenses(
        store,
        withMappings([{ ...tcp, enabled: true, proxyProtocol: 'v2' }]),
      );
      assert.deepEqual(changed.mappings, { created: 0, updated: 1, deleted: 1, unchanged: 2 });
      assert.deepEqual(
        (await directory.getLicense(ci?.id ?? ''))?.mappings.map((m) => [m.protocol, m.proxyProtocol]),
        [['tcp', 'v2']],
        'the udp mapping went; the tcp one on the same number stayed and changed',
      );
    });

    test('a clash with a license managed in the console fails, names the license, and applies nothing', async (t) => {
      const store = await h.store(t);
      const alice = await user(store);
      const console_ = await license(store, alice.id, 'console');
      await store.mappings.create({
        licenseId: console_.id,
        publicPort: 8080,
        targetHost: 'h',
        targetPort: 1,
      });
      const events = recorder(new StoreDirectory(store));
      const portClash = await rejectsWith(applyDeclaredLicenses(store, declared()), 'MUON_ERR_PORT_CONFLICT');
      assert.match(portClash.message, /^licenses "lab": publicPort: TCP port 8080/);
      assert.equal(await store.users.getByUsername(CONFIG_USERNAME), undefined, 'rolled back');
      assert.deepEqual(events.take(), []);
      const keyClash = await rejectsWith(
        applyDeclaredLicenses(store, declared({ lab: { key: console_.key, mappings: [] } })),
        'MUON_ERR_CONFLICT',
      );
      assert.match(keyClash.message, /^licenses "lab": key: /);
    });
  });
}
