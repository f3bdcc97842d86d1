// A listening net.Server emits 'error' when accept() fails (EMFILE when libuv has lost its
// reserve descriptor, ENFILE, ENOBUFS…) and goes on listening. With no 'error' listener that
// event would be thrown and end the process, so every listener gets this one once it listens:
// it logs the failure (rate-limited, as it repeats for every waiting connection) and nothing else.

import type { Server } from 'node:net';
import type { Logger } from '../log.ts';
import { LogInterval } from './log-interval.ts';
import { isOutOfFiles, warnOutOfFiles } from './out-of-files.ts';

/** Call after `server` listens: errors before that are listen failures, for the caller to report. */
export function surviveAcceptErrors(server: Server, logger: Logger, listener: string): void {
  const gate = new LogInterval(1000);
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (isOutOfFiles(error)) {
      warnOutOfFiles(logger, `cannot accept connections on ${listener}`, { listener });
      return;
    }
    const count = gate.note();
    if (count === undefined) return;
    logger.error(
      { code: 'MUON_ERR_INTERNAL', listener, err: error.code ?? error.message, suppressed: count - 1 },
      `cannot accept connections on ${listener}`,
    );
  });
}
