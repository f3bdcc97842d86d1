// The part of HTTP/1.1 message heads that requests and responses share: finding where a head
// ends across any number of chunks (without copying until it is whole), and splitting it into a
// start line and validated header fields. Strict about what smuggling relies on: bare CR or LF,
// obsolete line folding, whitespace before the colon, control characters. Pure: no sockets.

import type { ErrorCode } from '../errors.ts';
import { HttpError, malformed } from './http-error.ts';

const CR = 0x0d;
const LF = 0x0a;

/** A header field as received: the name keeps its case, the value loses surrounding whitespace. */
export type HeaderField = [name: string, value: string];

export interface HeadLimits {
  /** Bytes of the whole head, start line and final empty line included. */
  maxBytes: number;
  /** Header fields. */
  maxFields: number;
}

/** What a head over its limits is refused with. */
export interface Oversize {
  status: number;
  code: ErrorCode;
}

// Where the scanner is: at the start of a line, inside one, after its CR, or after a CR that
// began a line (an empty line, once the CRLF is complete).
const LINE_START = 0;
const IN_LINE = 1;
const LINE_CR = 2;
const LINE_START_CR = 3;

/**
 * Finds the empty line that ends a head. Requests may be preceded by empty lines (RFC 9112 2.2),
 * which are skipped; they count against the size limit all the same.
 */
export class HeadScanner {
  readonly #max: number;
  readonly #oversize: Oversize;
  readonly #skipLeadingEmptyLines: boolean;
  #pieces: Buffer[] = [];
  #length = 0;
  #skipped = 0;
  #state = LINE_START;
  /** A start line has begun (so an empty line now ends the head). */
  #started = false;

  constructor(maxBytes: number, oversize: Oversize, skipLeadingEmptyLines: boolean) {
    this.#max = maxBytes;
    this.#oversize = oversize;
    this.#skipLeadingEmptyLines = skipLeadingEmptyLines;
  }

  /** Some byte of a head (not a skipped empty line) has arrived. */
  get started(): boolean {
    return this.#started;
  }

  /** Bytes of the unfinished head held so far (0 between heads). */
  get length(): number {
    return this.#length;
  }

  /**
   * Reads `chunk` from `start`: the index just past the head's end when it ends in this chunk
   * (take() it then), or -1 when every byte was consumed and more are needed. Throws HttpError.
   */
  feed(chunk: Buffer, start: number): number {
    let begin = start;
    const end = chunk.length;
    for (let i = start; i < end; i++) {
      const byte = chunk[i] as number;
      switch (this.#state) {
        case IN_LINE:
          if (byte === CR) this.#state = LINE_CR;
          else if (byte === LF) throw malformed('a line ends with a bare LF');
          break;
        case LINE_START:
          if (byte === CR) this.#state = LINE_START_CR;
          else if (byte === LF) throw malformed('a line ends with a bare LF');
          else {
            this.#state = IN_LINE;
            this.#started = true;
          }
          break;
        case LINE_CR:
          if (byte !== LF) throw malformed('a CR is not followed by LF');
          this.#state = LINE_START;
          break;
        case LINE_START_CR:
          if (byte !== LF) throw malformed('a CR is not followed by LF');
          this.#state = LINE_START;
          if (this.#started) {
            this.#add(chunk, begin, i + 1);
            return i + 1;
          }
          if (!this.#skipLeadingEmptyLines) throw malformed('the message starts with an empty line');
          // Nothing before this was part of a head (a CR may wait from the previous chunk).
          this.#skipped += this.#length + i + 1 - begin;
          this.#pieces = [];
          this.#length = 0;
          begin = i + 1;
          if (this.#skipped > this.#max) throw this.#tooLarge();
          break;
      }
    }
    this.#add(chunk, begin, end);
    return -1;
  }

  /** The complete head (start line to the empty line included); the scanner starts over. */
  take(): Buffer {
    const head = this.#pieces.length === 1 ? (this.#pieces[0] as Buffer) : Buffer.concat(this.#pieces);
    this.#pieces = [];
    this.#length = 0;
    this.#skipped = 0;
    this.#started = false;
    this.#state = LINE_START;
    return head;
  }

  #add(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.#length += to - from;
    if (this.#length > this.#max) throw this.#tooLarge();
    this.#pieces.push(chunk.subarray(from, to));
  }

  #tooLarge(): HttpError {
    const { status, code } = this.#oversize;
    return new HttpError(status, code, `the head is larger than ${this.#max} bytes`);
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/s;
/** Visible characters, space, tab and obs-text: no control character, no DEL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * Splits a whole head (as HeadScanner.take() returns it) into its start line and fields. The
 * text is read as latin1, so every byte survives a round trip through a string.
 */
export function splitHead(
  head: Buffer,
  limits: HeadLimits,
  oversize: Oversize,
): { startLine: string; fields: HeaderField[] } {
  const lines = head.toString('latin1').split('\r\n');
  // The head ends with CRLF CRLF: the split leaves two empty strings behind.
  lines.length -= 2;
  const startLine = lines[0] ?? '';
  const fields: HeaderField[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) throw malformed('obsolete line folding in a header field');
    const match = FIELD_LINE.exec(line);
    if (!match) {
      throw malformed(
        /^[^:]*[ \t]:/.test(line)
          ? 'whitespace between a header name and its colon'
          : 'a header line is not "name: value"',
      );
    }
    const value = match[2] as string;
    if (!FIELD_VALUE.test(value)) throw malformed(`a control character in the ${match[1]} header`);
    if (fields.length >= limits.maxFields) {
      throw new HttpError(oversize.status, oversize.code, `more than ${limits.maxFields} header fields`);
    }
    fields.push([match[1] as string, value]);
  }
  return { startLine, fields };
}

/** The values of every field named `name` (case-insensitive), in order. */
export function valuesOf(fields: readonly HeaderField[], name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of fields) if (n.length === name.length && n.toLowerCase() === name) out.push(v);
  return out;
}

/** The comma-separated elements of a list-valued field (all its lines), lower-cased, empty ones dropped. */
export function listOf(fields: readonly HeaderField[], name: string): string[] {
  const out: string[] = [];
  for (const value of valuesOf(fields, name)) {
    for (const item of value.split(',')) {
      const trimmed = item.trim().toLowerCase();
      if (trimmed) out.push(trimmed);
    }
  }
  return out;
}

/**
 * The message body's length from its Content-Length fields: undefined when absent; refused when
 * malformed, or when several values disagree (identical repeats are one value, RFC 9112 6.3).
 */
export function contentLengthOf(fields: readonly HeaderField[]): number | undefined {
  let length: number | undefined;
  for (const value of valuesOf(fields, 'content-length')) {
    for (const item of value.split(',')) {
      const text = item.trim();
      if (!/^\d{1,15}$/.test(text)) throw malformed('Content-Length is not a decimal number');
      const n = Number(text);
      if (length !== undefined && n !== length) throw malformed('conflicting Content-Length values');
      length = n;
    }
  }
  return length;
}
