// Shared by the configuration tests: temporary files removed after each test, and a way to
// get the message of the configuration error a load must fail with.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { MuonError } from '../../src/errors.ts';

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'muon-config-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `text` to a new file in a fresh temporary directory and returns its path. */
export async function tempFile(t: TestContext, text: string, name = 'muon.yaml'): Promise<string> {
  const file = join(await tempDir(t), name);
  await writeFile(file, text);
  return file;
}

/** The message of the MUON_ERR_CONFIG error that `promise` must reject with. */
export async function configErrorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MuonError, `expected a MuonError, got ${String(error)}`);
    assert.equal(error.code, 'MUON_ERR_CONFIG');
    return error.message;
  }
  assert.fail('expected the configuration to be rejected');
}

/** The problem lines of a configuration error, for exact comparisons. */
export async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  return (await configErrorOf(promise)).split('\n');
}

export const KEY_A = 'key-a-0123456789abcdef';
export const KEY_B = 'key-b-0123456789abcdef';
