// Muon's version, as package.json states it (shown by `muon --version` and the console).

import { readFileSync } from 'node:fs';

export function muonVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const value = (manifest as { version?: unknown }).version;
  return typeof value === 'string' ? value : 'unknown';
}
