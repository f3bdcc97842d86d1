// How the CLI ends: exit codes, one-line error reports without stack traces, and shutdown on
// SIGINT/SIGTERM (a second signal exits at once, for a close that hangs).

import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';

export const EXIT_OK = 0;
/** A runtime failure: a port already in use, a client that gave up. */
export const EXIT_FAILURE = 1;
/** The configuration or the command line is wrong: fix it before trying again. */
export const EXIT_USAGE = 2;

/** Writes `muon: <line>` to stderr for every line of `text`. */
export function say(text: string): void {
  process.stderr.write(
    `${text
      .split('\n')
      .map((line) => `muon: ${line}`)
      .join('\n')}\n`,
  );
}

export function exitCodeFor(error: unknown): number {
  return error instanceof MuonError && error.code === 'MUON_ERR_CONFIG' ? EXIT_USAGE : EXIT_FAILURE;
}

/** Reports an error that ends the command: its message only, never a stack trace. */
export function fail(error: unknown): never {
  say(error instanceof Error ? error.message : String(error));
  process.exit(exitCodeFor(error));
}

/** Closes, then exits with `code` (or EXIT_FAILURE if closing fails). */
export function closeThenExit(close: () => Promise<void>, code: number): void {
  void close().then(
    () => process.exit(code),
    (error: unknown) => {
      say(`error while shutting down: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(EXIT_FAILURE);
    },
  );
}

export function closeOnSignals(close: () => Promise<void>, logger: Logger): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      say(`${signal} again: exiting without waiting`);
      process.exit(EXIT_FAILURE);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    closeThenExit(close, EXIT_OK);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
