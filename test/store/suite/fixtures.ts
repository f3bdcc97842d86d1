// Small builders shared by the store suite's tests.

import assert from 'node:assert/strict';
import type { ErrorCode } from '../../../src/errors.ts';
import { MuonError } from '../../../src/errors.ts';
import type { License } from '../../../src/store/repositories/licenses.ts';
import type { User } from '../../../src/store/repositories/users.ts';
import type { Store } from '../../../src/store/store.ts';

/** A distinct, valid license key per seed. */
export function key(seed: string): string {
  return `test-key-${seed}`.padEnd(43, 'x');
}

export async function user(store: Store, username = 'alice', role: 'admin' | 'user' = 'user'): Promise<User> {
  return store.users.create({ username, passwordHash: '$argon2id$fake', role });
}

export async function license(store: Store, ownerId: number, name = 'lab'): Promise<License> {
  return store.licenses.create({ ownerId, name, key: key(`${ownerId}-${name}`) });
}

/** Asserts that `promise` rejects with a MuonError of `code`; returns it for further checks. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<MuonError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof MuonError, `expected a MuonError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** A clock that only moves when told to. */
export function manualClock(start = '2025-01-15T10:00:00.000Z'): {
  now: () => Date;
  advance(ms: number): void;
} {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}
