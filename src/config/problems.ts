// Configuration problems: each names the setting by its path (`licenses[0].mappings[1].target`)
// and, when the value came from the environment or a flag, that source. All problems of one
// load are reported together, one per line, in a single MuonError('MUON_ERR_CONFIG').

import type * as z from 'zod';
import { MuonError } from '../errors.ts';

export type ConfigPath = readonly PropertyKey[];

export interface Problem {
  path: ConfigPath;
  message: string;
}

/** Where a value came from when not the YAML file: setting path → `MUON_…` or `--flag`. */
export type Origins = ReadonlyMap<string, string>;

/** `['licenses', 0, 'key']` → `licenses[0].key`. */
export function formatPath(path: ConfigPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

export function problemLine(problem: Problem, origins: Origins = new Map()): string {
  const where = formatPath(problem.path);
  const origin = origins.get(where);
  const suffix = origin === undefined ? '' : ` (from ${origin})`;
  return where === '' ? `${problem.message}${suffix}` : `${where}: ${problem.message}${suffix}`;
}

export function configError(problems: readonly Problem[], origins?: Origins): MuonError {
  return new MuonError('MUON_ERR_CONFIG', problems.map((p) => problemLine(p, origins)).join('\n'));
}

/**
 * Zod issues as problems. An unknown-keys issue becomes one problem per key, at the key's own
 * path; its message (built by `unknownKeyMessages` below) carries one line per key.
 */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const lines = issue.message.split('\n');
      issue.keys.forEach((key, i) => {
        problems.push({ path: [...issue.path, key], message: lines[i] ?? 'unknown setting' });
      });
    } else {
      problems.push({ path: issue.path, message: issue.message });
    }
  }
  return problems;
}

/** One message line per unknown key, suggesting the closest known key for a likely typo. */
export function unknownKeyMessages(keys: readonly string[], known: readonly string[]): string {
  return keys
    .map((key) => {
      const guess = closest(key, known);
      return guess === undefined ? 'unknown setting' : `unknown setting (did you mean "${guess}"?)`;
    })
    .join('\n');
}

function closest(key: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = squash(key) === squash(candidate) ? 0 : editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Edit distance counting a swap of neighbours (`prot` → `port`) as one edit. */
function editDistance(a: string, b: string): number {
  // d(i, j): distance between the first i characters of a and the first j of b.
  const width = b.length + 1;
  const table = new Array<number>((a.length + 1) * width).fill(0);
  const d = (i: number, j: number) => table[i * width + j] ?? 0;
  for (let i = 0; i <= a.length; i++) {
    for (let j = 0; j <= b.length; j++) {
      let best = Math.max(i, j);
      if (i > 0 && j > 0) {
        best = Math.min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
          best = Math.min(best, d(i - 2, j - 2) + 1);
      }
      table[i * width + j] = best;
    }
  }
  return d(a.length, b.length);
}
