// Password hashing for admin-console users: argon2id with the library's defaults (19 MiB,
// 2 passes), and generated passwords for the first admin.

import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** Constant-time check of `password` against a stored argon2id hash; false for malformed hashes. */
export async function checkPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A random password of 20 URL-safe characters (120 bits). */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}
