// Muon's version, as package.json states it (shown by `muon --version` and the console).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './project-root.ts';

export function muonVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
  const value = (manifest as { version?: unknown }).version;
  return typeof value === 'string' ? value : 'unknown';
}
