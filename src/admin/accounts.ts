// What the admin API needs to know about user accounts, as an interface the store implements
// (and tests implement in memory): the API never imports the database directly.

export type Role = 'admin' | 'user';

export interface Account {
  id: string;
  username: string;
  role: Role;
  enabled: boolean;
  /** argon2id hash, or null for accounts that cannot log in. Never sent in a response. */
  passwordHash: string | null;
}

export interface Accounts {
  findByUsername(username: string): Promise<Account | undefined>;
  get(id: string): Promise<Account | undefined>;
  setPasswordHash(id: string, passwordHash: string): Promise<void>;
  countAdmins(): Promise<number>;
  createAdmin(username: string, passwordHash: string): Promise<Account>;
}
