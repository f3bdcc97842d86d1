// Every page of the web console renders in a real Chromium, without console errors, over a
// server with data on every page; on a phone-sized screen the menu folds away and still works.
// With MUON_SCREENSHOTS=<dir> (npm run screenshots) the pages are saved there as PNG files.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { hashPassword } from '../../src/admin/passwords.ts';
import { openBrowser } from '../support/browser.ts';
import { makeCertificate } from '../support/certs.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

const PAGES = [
  { path: '/', title: 'Dashboard', shot: 'dashboard', shows: 'clients offline' },
  { path: '/licenses', title: 'Licenses', shot: 'licenses', shows: 'NAS and SSH' },
  { path: '/mappings', title: 'Port mappings', shot: 'mappings', shows: 'nas.lan:80' },
  { path: '/ports', title: 'Port pool', shot: 'port-pool', shows: 'open to every license' },
  { path: '/domains', title: 'Domains', shot: 'domains', shows: 'days left' },
  { path: '/security-groups', title: 'Security groups', shot: 'security-groups', shows: '203.0.113.0/24' },
  { path: '/users', title: 'Users', shot: 'users', shows: 'carol' },
  { path: '/traffic', title: 'Traffic', shot: 'traffic', shows: 'Total' },
  { path: '/connections', title: 'Client connections', shot: 'connections', shows: '198.51.100.23' },
  { path: '/logins', title: 'Login log', shot: 'login-log', shows: 'mallory' },
  { path: '/account', title: 'Account', shot: 'account', shows: 'Change password' },
];
const SHOTS = process.env.MUON_SCREENSHOTS;

/** A server with something on every page: users, licenses, mappings, pool, groups, logs, traffic. */
async function seeded(t: Parameters<typeof startRuntime>[0]) {
  const rt = await startRuntime(t);
  const { store } = rt.runtime;
  const carol = await store.users.create({
    username: 'carol',
    passwordHash: await hashPassword('carol-pw-123456'),
  });
  const group = await store.portGroups.create({ name: 'public', description: 'open to every license' });
  await store.portPool.create({ portStart: 20000, portEnd: 20099, groupId: group.id });
  await store.portGroups.assign(group.id, { scope: 'global' });
  const office = await store.securityGroups.create({ name: 'office only' });
  await store.securityGroups.addRule(office.id, { action: 'allow', cidr: '203.0.113.0/24', priority: 10 });
  await store.securityGroups.addRule(office.id, { action: 'allow', cidr: '2001:db8::/32', priority: 20 });
  await store.securityGroups.addRule(office.id, { action: 'deny', cidr: '0.0.0.0/0', priority: 100 });
  const admin = await store.users.getByUsername('admin');
  const lab = await store.licenses.create({
    ownerId: admin?.id ?? 0,
    name: 'home-lab',
    description: 'NAS and SSH',
  });
  const factory = await store.licenses.create({ ownerId: carol.id, name: 'factory', uploadLimit: 1 << 20 });
  const ssh = await store.mappings.create({
    licenseId: lab.id,
    publicPort: 20022,
    targetHost: '127.0.0.1',
    targetPort: 22,
  });
  await store.mappings.create({
    licenseId: lab.id,
    publicPort: 20080,
    targetHost: 'nas.lan',
    targetPort: 80,
    securityGroupId: office.id,
  });
  const plc = await store.mappings.create({
    licenseId: factory.id,
    publicPort: 20502,
    targetHost: '10.0.0.7',
    targetPort: 502,
    enabled: false,
  });
  const tls = await makeCertificate(['example.test', '*.example.test']);
  await store.domains.create({
    name: 'example.test',
    certificate: tls.cert,
    privateKey: tls.key,
    forceHttps: true,
  });
  await store.mappings.create({
    licenseId: lab.id,
    protocol: 'https',
    hostnames: ['nas.example.test'],
    targetHost: 'nas.lan',
    targetPort: 5000,
  });
  const now = Date.now();
  const samples = [];
  for (let day = 0; day < 14; day++) {
    const at = new Date(now - day * 86_400_000);
    samples.push({
      mappingId: ssh.id,
      licenseId: lab.id,
      at,
      bytesIn: (day + 3) * 9_000_000,
      bytesOut: (day + 5) * 31_000_000,
    });
    samples.push({ mappingId: plc.id, licenseId: factory.id, at, bytesIn: 4_000_000, bytesOut: 2_000_000 });
  }
  await store.traffic.add(samples);
  await store.traffic.rollUp({ now: new Date(now) });
  const session = await store.connections.opened({
    licenseId: lab.id,
    licenseName: 'home-lab',
    remoteAddress: '198.51.100.23',
  });
  await store.connections.closed(session.id, { code: 'MUON_ERR_HEARTBEAT_TIMEOUT' });
  await store.connections.opened({
    licenseId: factory.id,
    licenseName: 'factory',
    remoteAddress: '192.0.2.80',
  });
  await store.logins.record({ username: 'admin', remoteAddress: '127.0.0.1', success: true });
  await store.logins.record({
    username: 'mallory',
    remoteAddress: '198.51.100.66',
    success: false,
    reason: 'MUON_ERR_AUTH_FAILED',
  });
  return rt;
}

async function logIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/`);
}

test('every page renders without console errors', async (t) => {
  const rt = await seeded(t);
  const { page, errors } = await openBrowser(t, { width: 1360, height: 860 });
  await logIn(page, rt.base);
  if (SHOTS) await mkdir(SHOTS, { recursive: true });
  for (const { path, title, shot, shows } of PAGES) {
    await t.test(`${path} shows its data`, async () => {
      await page.goto(rt.base + path);
      await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
      await page.locator('main').getByText(shows).first().waitFor();
      await page.waitForLoadState('networkidle');
      assert.equal(await page.title(), `${title} · Muon`);
      assert.deepEqual(errors, [], `no console errors on ${path}`);
      if (SHOTS) await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: true });
    });
  }
  await page.goto(`${rt.base}/no/such/page`);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.deepEqual(errors, []);
});

test('on a phone the menu folds into a button and still reaches every page', async (t) => {
  const rt = await seeded(t);
  const { page, errors } = await openBrowser(t, { width: 390, height: 844 });
  await logIn(page, rt.base);
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.isVisible(), false, 'the menu starts folded');
  await page.getByRole('button', { name: 'Menu' }).click();
  await nav.getByRole('link', { name: 'Licenses' }).click();
  await page.getByRole('heading', { level: 1, name: 'Licenses' }).waitFor();
  assert.equal(await nav.isVisible(), false, 'the menu folds again after choosing a page');
  const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen (tables scroll inside)`);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'phone-licenses.png') });
  assert.deepEqual(errors, []);
});
