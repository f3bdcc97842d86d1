// At first start there is no administrator: create one, with the password from
// MUON_ADMIN_PASSWORD or a generated one that the caller shows once (never logged).

import type { Accounts } from './accounts.ts';
import { generatePassword, hashPassword } from './passwords.ts';

export const FIRST_ADMIN = 'admin';

/** Returns the generated password when one was made, undefined when an admin existed or one was given. */
export async function ensureFirstAdmin(accounts: Accounts, given?: string): Promise<string | undefined> {
  if ((await accounts.countAdmins()) > 0) return undefined;
  const password = given || generatePassword();
  await accounts.createAdmin(FIRST_ADMIN, await hashPassword(password));
  return given ? undefined : password;
}
