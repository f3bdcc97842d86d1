// Running out of file descriptors (the open-file limit, `ulimit -n`) fails wherever a socket is
// created or accepted, and left alone it looks like something else: visitors time out, targets
// look unreachable. This module recognises the condition (EMFILE for this process, ENFILE for the
// whole system), says so in one recognisable warning that names the limit, rate-limited per
// process since a process out of descriptors fails on every connection, and tells whether the
// descriptor table is full right now (libuv hides failed accepts, see descriptorTableFull).

import { closeSync, openSync, readFileSync } from 'node:fs';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { LogInterval } from './log-interval.ts';

const ERRNO_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE']);

/** Whether `error` means no descriptor could be had: a Node errno error, or our MuonError for it. */
export function isOutOfFiles(error: unknown): boolean {
  if (error instanceof MuonError) return error.code === 'MUON_ERR_OUT_OF_FILES';
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return typeof error.code === 'string' && ERRNO_CODES.has(error.code);
}

export type FileLimit = number | 'unlimited' | 'unknown';

/** The soft limit from /proc/<pid>/limits text ("Max open files  1024  524288  files"). */
export function parseSoftFileLimit(limits: string): FileLimit {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === 'unlimited') return soft;
  const value = Number(soft);
  return Number.isSafeInteger(value) && value >= 0 ? value : 'unknown';
}

function readSoftFileLimit(): FileLimit {
  try {
    return parseSoftFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return 'unknown'; // not Linux, or /proc not mounted
  }
}

/**
 * Read once, when the process starts (this module is loaded with the server and the client): by
 * the time the limit is worth reporting, reading a file would fail for the same reason.
 */
const SOFT_LIMIT = readSoftFileLimit();

/** This process's soft open-file limit, as read at start. */
export function openFileLimit(): FileLimit {
  return SOFT_LIMIT;
}

/** One line per second per process, with how many were held back since the last one. */
const gate = new LogInterval(1000);

/**
 * Logs `what` failed for lack of descriptors as a warning with code MUON_ERR_OUT_OF_FILES, the
 * soft limit and `suppressed` (the warnings held back since the previous line), unless a line
 * already went out in the last second.
 */
export function warnOutOfFiles(logger: Logger, what: string, fields: Record<string, unknown> = {}): void {
  const count = gate.note();
  if (count === undefined) return;
  logger.warn(
    { code: 'MUON_ERR_OUT_OF_FILES', limit: SOFT_LIMIT, ...fields, suppressed: count - 1 },
    `out of file descriptors (open-file limit ${SOFT_LIMIT}): ${what}`,
  );
}

/**
 * Whether no descriptor is free now, found by opening one (about 2 µs). A listener has no other
 * way to know: when accept() fails with EMFILE, libuv accepts the pending connections on a
 * descriptor it keeps in reserve and closes them at once, and tells Node nothing. So the accept
 * that took the last descriptor is the last sign the process gets before connections start
 * being dropped unseen.
 */
export function descriptorTableFull(): boolean {
  let fd: number;
  try {
    fd = openSync('/dev/null', 'r');
  } catch (error) {
    return isOutOfFiles(error);
  }
  closeSync(fd);
  return false;
}
