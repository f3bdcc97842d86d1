// The web console in a real Chromium against a real server: the first-start login with the
// generated password, creating a license and a mapping, a real client going online and its
// mapping carrying a visitor, disabling the license and seeing the client go offline.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { openBrowser } from '../support/browser.ts';
import { dial, echoServer, freePort, readAll, waitFor } from '../support/net.ts';
import { startRuntime } from '../support/runtime.ts';

const NEW_PASSWORD = 'the-operators-own-password';

test('an operator sets up a tunnel from the console and sees its client come and go', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const rt = await startRuntime(t, [], { generatedPassword: true });
  const { page, errors } = await openBrowser(t);

  await t.test('first start: log in with the generated password, then choose a new one', async () => {
    await page.goto(`${rt.base}/licenses`);
    await page.waitForURL('**/login?next=/licenses');
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', rt.adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/account');
    await page.getByText('generated at the first start').waitFor();
    await page.fill('input[name=current]', rt.adminPassword);
    await page.fill('input[name=next]', NEW_PASSWORD);
    await page.fill('input[name=repeat]', NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed').waitFor();
    assert.equal(await page.getByText('generated at the first start').count(), 0);
  });

  const token = await rt.login('admin', NEW_PASSWORD);
  const port = await freePort();
  const group = await rt.call('POST', '/api/port-groups', token, { name: 'public' });
  await rt.call('POST', '/api/port-pool', token, { portStart: port, groupId: group.json.id });
  await rt.call('POST', `/api/port-groups/${group.json.id}/assignments`, token, { scope: 'global' });

  let key = '';
  await t.test('create a license; the connect panel shows the exact client command', async () => {
    await page.getByRole('link', { name: 'Licenses' }).click();
    await page.getByRole('button', { name: 'New license' }).click();
    await page.fill('input[name=name]', 'home-lab');
    await page.getByRole('button', { name: 'Create license' }).click();
    const command = (await page.getByLabel('Client command').textContent()) ?? '';
    const parts = command.match(/^muon client --server (\S+):(\d+) --license (\S+) --fingerprint (\S+)$/);
    assert.ok(parts, command);
    key = parts[3] ?? '';
    const admin = await rt.runtime.store.users.getByUsername('admin');
    const stored = await rt.runtime.store.licenses.getByName(admin?.id ?? 0, 'home-lab');
    assert.equal(key, stored?.key, 'the license key');
    assert.equal(parts[2], String(rt.runtime.tunnel.addresses.tls?.port), 'the TLS tunnel port');
    assert.equal(parts[4], rt.fingerprint, 'the certificate fingerprint');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.locator('[data-license="home-lab"]').getByText('offline').waitFor();
  });

  await t.test('create a mapping on a free pool port offered for the license', async () => {
    await page.getByRole('link', { name: 'Port mappings' }).click();
    await page.getByRole('button', { name: 'New mapping' }).click();
    const license = page.locator('select[name=licenseId]');
    const option = license.locator('option', { hasText: 'home-lab' });
    await license.selectOption((await option.getAttribute('value')) ?? '');
    await page.fill('input[name=publicPort]', String(port));
    await page.fill('input[name=targetHost]', '127.0.0.1');
    await page.fill('input[name=targetPort]', String(echo.port));
    await page.fill('input[name=downloadLimit]', '512');
    await page.getByRole('button', { name: 'Create mapping' }).click();
    await page.locator(`[data-mapping="${port}"]`).waitFor();
    const stored = (await rt.call('GET', '/api/mappings', token)).json.items[0];
    assert.equal(stored.downloadLimit, 512 * 1024, 'KiB/s in the form, bytes per second in the API');
    assert.equal(stored.uploadLimit, null, 'an empty limit is unlimited');
  });

  await t.test(
    'a real client connects: the license shows online and the mapping carries visitors',
    async () => {
      const client = rt.client(key);
      await once(client, 'online', { signal: AbortSignal.timeout(5000) });
      await page.getByRole('link', { name: 'Licenses' }).click();
      await page.locator('[data-license="home-lab"]').getByText('online', { exact: true }).waitFor();
      await waitFor(() => rt.runtime.tunnel.publicPorts.includes(port), 2000, 'the public port');
      const visitor = await dial(port);
      const reply = readAll(visitor);
      visitor.end('through the console-made tunnel');
      assert.equal((await reply).toString(), 'through the console-made tunnel');
    },
  );

  await t.test('disabling the license disconnects the client; the console shows it offline', async () => {
    const row = page.locator('[data-license="home-lab"]');
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled').waitFor();
    await row.getByText('offline').waitFor({ timeout: 12_000 });
    await waitFor(() => !rt.runtime.tunnel.publicPorts.includes(port), 2000, 'the port to close');
  });

  await t.test('an API error about a field is shown beside that field', async () => {
    await page.getByRole('button', { name: 'New license' }).click();
    await page.fill('input[name=name]', 'home-lab');
    await page.getByRole('button', { name: 'Create license' }).click();
    const field = page.locator('label.field.invalid', { has: page.locator('input[name=name]') });
    await field.getByText('already has a license named "home-lab"').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  // The deliberate 409 above is the only failed request the browser may report.
  const unexpected = errors.filter((e) => !/status of 409/.test(e));
  assert.deepEqual(unexpected, [], 'no console errors');
});
