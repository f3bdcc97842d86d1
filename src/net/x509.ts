// @peculiar/x509, loaded on first use (it takes ~100 ms to load and ~12 MB of memory), by code that
// reads the extensions of domain certificates. Its dependency tsyringe needs the Reflect metadata
// polyfill in place before it is imported. The server's own certificate does without it
// (self-signed.ts).

import type * as X509 from '@peculiar/x509';

export async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}
