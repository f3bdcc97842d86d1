// One memory-reducing garbage collection once the server or client has started. Start-up (loading
// the code, parsing the configuration, opening the store, generating a certificate on the first
// start) leaves garbage and grows V8's young generation to several MB; an idle process never
// collects again, so without this that memory stays resident for good (docs/benchmarks.md,
// "Idle memory"). Node exposes no collection API without --expose-gc; setting the flag at run
// time gives `gc` to new contexts only, so the main context's globals do not change.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let collect: Collect | undefined;

/** Collects all garbage and shrinks the heap (young generation included). Takes tens of ms. */
export function compactHeap(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as Collect;
  }
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
