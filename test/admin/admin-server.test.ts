// The admin server builds its application on the first request, not at start: a server that is
// never administered does not load Hono or the console (docs/benchmarks.md, "Idle memory").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdminServer } from '../../src/admin/admin-server.ts';
import type { AdminApp } from '../../src/admin/app.ts';
import { LogCapture } from '../support/stack.ts';

/** A minimal application: GET /healthz answers {status:"ok"}. */
async function healthApp(): Promise<AdminApp> {
  const { Hono } = await import('hono');
  const app = new Hono() as unknown as AdminApp;
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  return app;
}

async function start(t: { after(fn: () => Promise<void>): void }, load: () => Promise<AdminApp>) {
  const log = new LogCapture();
  const server = new AdminServer(load, { host: '127.0.0.1', port: 0 }, log.logger);
  await server.listen();
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address?.port}/healthz`;
  const get = async () => {
    const response = await fetch(url);
    const json = (await response.json()) as { status?: string; error?: { code: string } };
    return { status: response.status, json };
  };
  return { server, log, get };
}

describe('admin server', () => {
  test('does not build the application until the first request', async (t) => {
    let loads = 0;
    const { get } = await start(t, async () => {
      loads++;
      return healthApp();
    });
    assert.equal(loads, 0, 'listening alone loads nothing');
    assert.deepEqual(await get(), { status: 200, json: { status: 'ok' } });
    assert.deepEqual(await get(), { status: 200, json: { status: 'ok' } });
    assert.equal(loads, 1, 'built once, then reused');
  });

  test('requests that arrive while it is being built all wait for the one build', async (t) => {
    let loads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { get } = await start(t, async () => {
      loads++;
      await gate;
      return healthApp();
    });
    const pending = [get(), get(), get()];
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    for (const result of await Promise.all(pending)) assert.equal(result.status, 200);
    assert.equal(loads, 1);
  });

  test('a build that fails answers MUON_ERR_INTERNAL, is logged, and is tried again', async (t) => {
    let loads = 0;
    const { get, log } = await start(t, async () => {
      loads++;
      if (loads === 1) throw new Error('disk on fire');
      return healthApp();
    });
    const failed = await get();
    assert.equal(failed.status, 500);
    assert.equal(failed.json.error?.code, 'MUON_ERR_INTERNAL');
    assert.match(log.text(), /admin API could not start/);
    assert.match(log.text(), /disk on fire/);
    assert.deepEqual(await get(), { status: 200, json: { status: 'ok' } });
    assert.equal(loads, 2);
  });

  test('close() is idempotent', async (t) => {
    const { server } = await start(t, healthApp);
    await server.close();
    await server.close();
  });
});
