// Who is logged in, shared by every page: loaded once from /api/auth/me, cleared on logout or
// when the server answers 401 (the session expired or the server restarted).

import { reactive } from 'vue';
import { api } from './api/client.ts';
import type { AccountView } from './api/types.ts';

export const session = reactive<{
  account: AccountView | null;
  checked: boolean;
  mustChangePassword: boolean;
}>({
  account: null,
  checked: false,
  mustChangePassword: false,
});

export async function loadSession(): Promise<AccountView | null> {
  if (session.checked) return session.account;
  const answer = await api.auth.session();
  session.account = answer.account;
  session.mustChangePassword = answer.mustChangePassword;
  session.checked = true;
  return session.account;
}

export function setAccount(account: AccountView | null, mustChangePassword = false): void {
  session.account = account;
  session.mustChangePassword = mustChangePassword;
  session.checked = true;
}

export const isAdmin = (): boolean => session.account?.role === 'admin';
