// Used inside the load generator so that it never outlives the run. (target.ts inlines the same
// few lines: it imports no local module, so its RSS stays that of a bare TCP server.)

import { fstatSync } from 'node:fs';

/**
 * In a child: calls `gone` when stdin (a pipe from the parent) ends, i.e. the parent has exited
 * or released us. Without a pipe on stdin (run by hand from a terminal or with </dev/null) the
 * child relies on SIGTERM/SIGINT and its own deadline instead.
 */
export function onParentGone(gone: () => void): void {
  let isPipe = false;
  try {
    isPipe = fstatSync(0).isFIFO();
  } catch {
    // no stdin at all
  }
  if (!isPipe) return;
  process.stdin.once('end', gone);
  process.stdin.once('error', gone);
  process.stdin.resume();
}
