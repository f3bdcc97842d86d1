// `muon keygen`: a fresh license key for the server's `licenses[].key` (and the client's
// `license`), printed alone on stdout so scripts can capture it.

import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';

/** 32 random bytes, base64url: 43 characters, 256 bits of entropy. */
export function newLicenseKey(): string {
  return randomBytes(32).toString('base64url');
}

export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('print a new random license key (32 random bytes, base64url)')
    .action(() => {
      process.stdout.write(`${newLicenseKey()}\n`);
    });
}
