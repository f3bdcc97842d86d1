// Finds where a chunked message body ends, across any number of chunks, without decoding or
// copying it: the router forwards the bytes as they are and only needs the boundary. Strict about
// what lets two parsers disagree: chunk sizes are bare hex (no sign, prefix or whitespace) of at
// most 13 digits, lines end with CRLF, extensions and trailer fields have no control characters
// and stay within their limits. Pure: no sockets.

import { malformed } from './http-error.ts';

const CR = 0x0d;
const LF = 0x0a;
const MAX_SIZE_DIGITS = 13; // 2^52: below Number.MAX_SAFE_INTEGER
const MAX_EXTENSION = 1024;
const MAX_TRAILERS = 32 * 1024;

// States: the size line, the data and its CRLF, the trailer section and the final CRLF.
const SIZE_START = 0;
const SIZE = 1;
const EXTENSION = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER_NAME = 8;
const TRAILER_VALUE = 9;
const TRAILER_LF = 10;
const FINAL_LF = 11;
const DONE = 12;

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** Bytes allowed in a chunk extension or a trailer value: visible, space, tab, obs-text. */
function isTextByte(byte: number): boolean {
  return byte === 0x09 || (byte >= 0x20 && byte !== 0x7f);
}

export class ChunkedScanner {
  #state = SIZE_START;
  #digits = 0;
  #size = 0;
  #remaining = 0;
  #extension = 0;
  #trailers = 0;

  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Reads `chunk` from `start`: the index just past the body's end when it ends in this chunk,
   * or -1 when all of it belongs to the body and more is to come. Throws HttpError.
   */
  scan(chunk: Buffer, start: number): number {
    let i = start;
    const end = chunk.length;
    while (i < end) {
      if (this.#state === DATA) {
        const take = Math.min(this.#remaining, end - i);
        this.#remaining -= take;
        i += take;
        if (this.#remaining === 0) this.#state = DATA_CR;
        continue;
      }
      this.#step(chunk[i] as number);
      i++;
      if (this.#state === DONE) return i;
    }
    return -1;
  }

  #step(byte: number): void {
    switch (this.#state) {
      case SIZE_START:
      case SIZE: {
        const digit = HEX[byte] as number;
        if (digit >= 0) {
          if (++this.#digits > MAX_SIZE_DIGITS) throw malformed('a chunk size is too large');
          this.#size = this.#size * 16 + digit;
          this.#state = SIZE;
        } else if (this.#state === SIZE_START) {
          throw malformed('a chunk does not start with a hex size');
        } else if (byte === 0x3b) {
          this.#state = EXTENSION;
          this.#extension = 0;
        } else if (byte === CR) {
          this.#state = SIZE_LF;
        } else {
          throw malformed('a chunk size is followed by something other than ; or CRLF');
        }
        return;
      }
      case EXTENSION:
        if (byte === CR) this.#state = SIZE_LF;
        else if (!isTextByte(byte)) throw malformed('a control character in a chunk extension');
        else if (++this.#extension > MAX_EXTENSION) throw malformed('a chunk extension is too long');
        return;
      case SIZE_LF:
        if (byte !== LF) throw malformed('a chunk size line does not end with CRLF');
        if (this.#size === 0) {
          this.#state = TRAILER_START;
        } else {
          this.#remaining = this.#size;
          this.#state = DATA;
        }
        this.#size = 0;
        this.#digits = 0;
        return;
      case DATA_CR:
        if (byte !== CR) throw malformed('chunk data is longer than its size');
        this.#state = DATA_LF;
        return;
      case DATA_LF:
        if (byte !== LF) throw malformed('chunk data is not followed by CRLF');
        this.#state = SIZE_START;
        return;
      case TRAILER_START:
        if (byte === CR) {
          this.#state = FINAL_LF;
          return;
        }
        if (byte === 0x20 || byte === 0x09) throw malformed('obsolete line folding in a trailer');
        this.#state = TRAILER_NAME;
        this.#trailerByte();
        if (!TCHAR[byte]) throw malformed('a trailer field name is not a token');
        return;
      case TRAILER_NAME:
        this.#trailerByte();
        if (byte === 0x3a) this.#state = TRAILER_VALUE;
        else if (!TCHAR[byte]) throw malformed('a trailer field name is not a token');
        return;
      case TRAILER_VALUE:
        this.#trailerByte();
        if (byte === CR) this.#state = TRAILER_LF;
        else if (!isTextByte(byte)) throw malformed('a control character in a trailer field');
        return;
      case TRAILER_LF:
        if (byte !== LF) throw malformed('a trailer line does not end with CRLF');
        this.#state = TRAILER_START;
        return;
      case FINAL_LF:
        if (byte !== LF) throw malformed('the chunked body does not end with CRLF');
        this.#state = DONE;
        return;
      default:
        throw malformed('bytes after the end of a chunked body');
    }
  }

  #trailerByte(): void {
    if (++this.#trailers > MAX_TRAILERS) throw malformed('the trailer section is too large');
  }
}
