// @peculiar/x509 for tests that build certificate chains (a CA and the leaves it signs), which
// node:crypto cannot. Muon itself does without it (self-signed.ts, subject-alt-names.ts); it is a
// development dependency. Its dependency tsyringe needs the Reflect metadata polyfill in place
// before it is imported.

import type * as X509 from '@peculiar/x509';

export async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}
