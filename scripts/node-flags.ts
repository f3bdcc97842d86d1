// The V8 flags Muon runs with, from bin/node-flags (one per line, `#` starts a comment): bin/muon
// reads the file itself; the benchmark and the tests read it through this.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function readNodeFlags(root: string): string[] {
  return readFileSync(join(root, 'bin', 'node-flags'), 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}
