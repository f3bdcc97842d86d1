// The DNS names in a certificate's subjectAltName as Node's X509Certificate writes it: entries
// `TYPE:value` joined by ", " (`DNS:example.com, DNS:*.example.com, IP Address:127.0.0.1`). Since
// the fix for CVE-2021-44532 Node writes a value that holds a comma, a quote, a backslash or a
// control character (in a DNS name, anything outside printable ASCII) as a JSON string literal
// (`DNS:"a\u002cb.example"`), so the text may not be split at ", ": it is read entry by entry.
// Entries of other types (IP Address, email, URI, …) are read and passed over. Pure: no
// certificates, no I/O.
//
// Malformed text (an entry without a type, an unterminated or invalid JSON literal, a missing
// separator) throws MUON_ERR_INVALID_INPUT, naming what is wrong and where. It is not skipped:
// Node writes this text itself, so a string it cannot read means a format this module does not
// know, and skipping could drop names without a word. Callers turn the error into their own
// refusal (domain-certificate.ts: INVALID_INPUT on the certificate field).

import { MuonError } from '../errors.ts';

/** The subjectAltName text cannot be read: `reason` says what is wrong and at which character. */
function unreadable(reason: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', reason);
}

interface Entry {
  type: string;
  value: string;
}

const SEPARATOR = ', ';

/** The values of the DNS entries in Node's `subjectAltName` text, in order, as written; [] for none. */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  return readEntries(subjectAltName ?? '')
    .filter((entry) => entry.type === 'DNS')
    .map((entry) => entry.value);
}

/** Every entry of the text, with JSON string literals decoded. Throws MUON_ERR_INVALID_INPUT. */
function readEntries(text: string): Entry[] {
  const entries: Entry[] = [];
  let at = 0;
  while (at < text.length) {
    if (entries.length > 0) at = skipSeparator(text, at);
    const colon = text.indexOf(':', at);
    if (colon <= at) throw unreadable(`an entry without a type at character ${at + 1}`);
    const value = text.startsWith('"', colon + 1) ? readQuoted(text, colon + 1) : readPlain(text, colon + 1);
    entries.push({ type: text.slice(at, colon), value: value.value });
    at = value.end;
  }
  return entries;
}

function skipSeparator(text: string, at: number): number {
  if (!text.startsWith(SEPARATOR, at)) {
    throw unreadable(`"${SEPARATOR}" expected between entries at character ${at + 1}`);
  }
  if (at + SEPARATOR.length === text.length) throw unreadable('a separator ends the text');
  return at + SEPARATOR.length;
}

/** A value as is: up to the next comma, which Node never leaves unquoted inside a value. */
function readPlain(text: string, start: number): { value: string; end: number } {
  const comma = text.indexOf(',', start);
  const end = comma === -1 ? text.length : comma;
  return { value: text.slice(start, end), end };
}

/** A JSON string literal starting at `start` (the opening quote), decoded. */
function readQuoted(text: string, start: number): { value: string; end: number } {
  const where = `at character ${start + 1}`;
  let at = start + 1;
  while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
  if (at >= text.length) throw unreadable(`an unterminated quoted value ${where}`);
  const value = parseString(text.slice(start, at + 1));
  if (value === undefined) throw unreadable(`an invalid quoted value ${where}`);
  return { value, end: at + 1 };
}

/** A JSON string literal decoded; undefined if it is not one (a bad escape, a raw control character). */
function parseString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
