// The admin API's Accounts, backed by the store's users (ids are numbers in the store).

import type { Account, Accounts } from '../admin/accounts.ts';
import type { Store } from '../store/store.ts';

export function storeAccounts(store: Store): Accounts {
  const toAccount = (found: Awaited<ReturnType<Store['users']['findForLogin']>>): Account | undefined =>
    found && {
      id: String(found.user.id),
      username: found.user.username,
      role: found.user.role,
      enabled: found.user.enabled,
      passwordHash: found.passwordHash,
    };
  return {
    findByUsername: async (username) => toAccount(await store.users.findForLogin(username)),
    get: async (id) => {
      const user = /^\d+$/.test(id) ? await store.users.get(Number(id)) : undefined;
      return user && toAccount(await store.users.findForLogin(user.username));
    },
    setPasswordHash: async (id, passwordHash) => {
      await store.users.update(Number(id), { passwordHash });
    },
    countAdmins: () => store.users.countAdmins({ enabled: true }),
    createAdmin: async (username, passwordHash) => {
      const user = await store.users.create({ username, passwordHash, role: 'admin' });
      return { id: String(user.id), username, role: 'admin', enabled: user.enabled, passwordHash };
    },
  };
}
