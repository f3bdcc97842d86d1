// Where the project's files are (package.json, the built console): found by walking up from this
// module to the nearest package.json. The same answer whether the code runs from src/ (Node's type
// stripping) or from the bundle in dist/ (scripts/build-server.sh), whose chunks sit at another depth.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
