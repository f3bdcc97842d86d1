// Directory changes that arrive while the previous one is still being read are applied in order:
// a slow read of an older state must not land after a quick read of a newer one.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Directory, LicenseRecord, SecurityPolicy } from '../../src/server/directory.ts';
import { StaticDirectory } from '../../src/server/static-directory.ts';
import { echoServer, freePort } from '../support/net.ts';
import { KEY, license, startStack } from '../support/stack.ts';

/** A StaticDirectory whose next read takes a while (as a busy database might). */
class SlowOnce implements Directory {
  readonly inner: StaticDirectory;
  slowNext = false;

  constructor(records: LicenseRecord[]) {
    this.inner = new StaticDirectory(records);
  }
  findByKeyId(keyId: Buffer) {
    return this.inner.findByKeyId(keyId);
  }
  async getLicense(id: string) {
    const record = await this.inner.getLicense(id);
    if (this.slowNext) {
      this.slowNext = false;
      await sleep(200);
    }
    return record;
  }
  onChange(listener: (id: string) => void) {
    return this.inner.onChange(listener);
  }
}

function admitted(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('x'));
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('close', () => resolve(false));
  });
}

test('a newer change read quickly is not overwritten by an older one read slowly', async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const base = license('lab', KEY, [{ publicPort: port, targetPort: echo.port }]);
  const withPolicy = (security: SecurityPolicy): LicenseRecord => ({
    ...base,
    mappings: base.mappings.map((m) => ({ ...m, security })),
  });
  const directory = new SlowOnce([base]);
  const stack = await startStack(t, [], { server: { directory } });
  await stack.onlineClient(KEY);
  assert.equal(await admitted(port), true);

  directory.slowNext = true;
  directory.inner.update(withPolicy({ id: 'g', defaultAction: 'deny', rules: [] }));
  directory.inner.update(withPolicy({ id: 'g', defaultAction: 'allow', rules: [] }));
  await sleep(400);
  assert.equal(await admitted(port), true, 'the latest state (allow) is the one in force');
});
