// Serving the built web console: hashed assets cached for a year, index.html revalidated by
// ETag and sent for every console route (so a reload works), compression when the browser
// accepts it, a Content-Security-Policy on the page, and API paths never swallowed.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ConsoleAssets } from '../../src/admin/console-assets.ts';
import { startAdmin } from '../support/admin.ts';

const INDEX = '<!doctype html><title>Muon</title><script type="module" src="/assets/app-1a2b.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

async function built(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-console-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'assets', 'app-1a2b.js'), SCRIPT);
  await writeFile(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return dir;
}

/** A raw GET (no automatic decompression), with its headers and body bytes. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: Buffer;
  }>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('hashed assets are immutable for a year; the page is revalidated and carries a CSP', async (t) => {
  const assets = await ConsoleAssets.load(await built(t));
  const { url } = await startAdmin(t, { console: assets ?? null });

  const script = await get(`${url}/assets/app-1a2b.js`);
  assert.equal(script.status, 200);
  assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(String(script.headers['content-type']), /^text\/javascript/);
  assert.equal(script.body.toString(), SCRIPT);

  const page = await get(`${url}/`);
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.body.toString(), INDEX);
  const etag = String(page.headers.etag);
  const revalidated = await get(`${url}/`, { 'if-none-match': etag });
  assert.equal(revalidated.status, 304);
  assert.equal(revalidated.body.length, 0);
});

test('console routes answer the page; unknown assets and API paths answer 404', async (t) => {
  const assets = await ConsoleAssets.load(await built(t));
  const { url } = await startAdmin(t, { console: assets ?? null });
  for (const path of ['/licenses', '/mappings?licenseId=3', '/users/deep/link']) {
    const page = await get(url + path);
    assert.equal(page.status, 200, path);
    assert.equal(page.body.toString(), INDEX, path);
  }
  assert.equal((await get(`${url}/favicon.svg`)).headers['content-type'], 'image/svg+xml');
  assert.equal((await get(`${url}/assets/gone-0000.js`)).status, 404, 'a stale asset is not the page');
  const api = await get(`${url}/api/nothing-here`);
  assert.equal(api.status, 404);
  assert.equal(JSON.parse(api.body.toString()).error.code, 'MUON_ERR_NOT_FOUND');
  const head = await get(`${url}/licenses`, {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('text is sent brotli- or gzip-compressed when accepted', async (t) => {
  const assets = await ConsoleAssets.load(await built(t));
  const { url } = await startAdmin(t, { console: assets ?? null });
  const br = await get(`${url}/assets/app-1a2b.js`, { 'accept-encoding': 'gzip, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.ok(br.body.length < SCRIPT.length / 10);
  assert.equal(brotliDecompressSync(br.body).toString(), SCRIPT);
  const gzip = await get(`${url}/assets/app-1a2b.js`, { 'accept-encoding': 'gzip' });
  assert.equal(gzip.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gzip.body).toString(), SCRIPT);
  assert.equal(gzip.headers.vary, 'accept-encoding');
});

test('without a build, the console says how to build it; the API still works', async (t) => {
  assert.equal(await ConsoleAssets.load(join(tmpdir(), 'muon-no-such-dir')), undefined);
  const { url, call } = await startAdmin(t, { console: null });
  const page = await get(`${url}/`);
  assert.equal(page.status, 503);
  assert.match(page.body.toString(), /npm run build:console/);
  assert.equal((await call('GET', '/healthz')).status, 200);
});
