// HTTP(S) in the web console, in a real Chromium against a real server: a domain is added with its
// certificate and key pasted in, then an https mapping by host name with basic auth in front; a
// host name under no registered domain is refused beside its field.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from '../support/browser.ts';
import { makeCertificate } from '../support/certs.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';

test('an admin adds a domain with its certificate, then an https mapping by host name', async (t) => {
  const rt = await startRuntime(t);
  const token = await rt.login('admin', ADMIN_PASSWORD);
  assert.equal((await rt.call('POST', '/api/licenses', token, { name: 'web-lab' })).status, 201);
  const tls = await makeCertificate(['example.test', '*.example.test']);
  const { page, errors } = await openBrowser(t);
  await page.goto(`${rt.base}/login`);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${rt.base}/`);

  await page.getByRole('link', { name: 'Domains' }).click();
  await page.getByRole('button', { name: 'New domain' }).click();
  await page.fill('input[name=name]', 'example.test');
  await page.fill('textarea[name=certificate]', tls.cert);
  await page.fill('textarea[name=privateKey]', tls.key);
  await page.getByRole('button', { name: 'Create domain' }).click();
  const row = page.locator('[data-domain="example.test"]');
  await row.getByText('*.example.test').waitFor();
  await row.getByText('days left').waitFor();
  assert.equal(await page.locator('main').getByText('PRIVATE KEY').count(), 0, 'the key is never shown');

  await page.getByRole('link', { name: 'Port mappings' }).click();
  await page.getByRole('button', { name: 'New mapping' }).click();
  const license = page.locator('select[name=licenseId]');
  await license.selectOption(
    (await license.locator('option', { hasText: 'web-lab' }).getAttribute('value')) ?? '',
  );
  await page.locator('select[name=protocol]').selectOption('https');
  assert.equal(await page.locator('input[name=publicPort]').count(), 0, 'no port of its own');
  await page.fill('input[name=hostnames]', 'app.elsewhere.test');
  await page.fill('input[name=targetHost]', '127.0.0.1');
  await page.fill('input[name=targetPort]', '8080');
  await page.getByRole('button', { name: 'Create mapping' }).click();
  const field = page.locator('label.field.invalid', { has: page.locator('input[name=hostnames]') });
  await field.waitFor();

  await page.fill('input[name=hostnames]', 'app.example.test');
  await page.fill('input[name=basicAuthUser]', 'family');
  await page.fill('input[name=basicAuthPassword]', 'a-long-family-password');
  await page.getByRole('button', { name: 'Create mapping' }).click();
  const mapping = page.locator('[data-mapping="app.example.test"]');
  await mapping.getByText('password').waitFor();
  assert.equal(
    await mapping.getByRole('link', { name: 'Open' }).getAttribute('href'),
    'https://app.example.test',
  );

  const stored = (await rt.call('GET', '/api/mappings?protocol=https', token)).json.items[0];
  assert.deepEqual(stored.hostnames, ['app.example.test']);
  assert.deepEqual(stored.basicAuth, { username: 'family' }, 'the password is stored only as a hash');
  // The refused host name is the only failed request the browser may report.
  assert.deepEqual(
    errors.filter((e) => !/status of 400/.test(e)),
    [],
  );
});
