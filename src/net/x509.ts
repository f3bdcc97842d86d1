// @peculiar/x509, loaded on first use (it takes ~100 ms to load). Its dependency tsyringe needs
// the Reflect metadata polyfill in place before it is imported. A module of its own so that code
// reading certificates does not pull in the server's TLS identity (and its key generation).

import type * as X509 from '@peculiar/x509';

export async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}
