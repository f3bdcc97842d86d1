// Follows the target's responses on one connection without holding or changing a byte: the
// router forwards them as they arrive and the scanner only tracks where each one ends (RFC 9112
// 6.3: HEAD, 1xx, 204 and 304 have no body; then chunked, Content-Length, or until the target
// closes). It pairs responses with the requests sent, in order, so the router knows when every
// forwarded request has been answered and when a 101 turns the connection into raw bytes. Pure.

import { ChunkedScanner } from './chunked-scanner.ts';
import { HttpError } from './http-error.ts';
import {
  contentLengthOf,
  type HeaderField,
  type HeadLimits,
  HeadScanner,
  listOf,
  type Oversize,
  splitHead,
  valuesOf,
} from './message-head.ts';

export interface SentRequest {
  method: string;
  /** The request asked to upgrade: a 101 answer switches the connection to raw bytes. */
  upgrade: boolean;
}

export interface ResponseListener {
  /** A final response to the oldest outstanding request has ended; `upgraded` for a 101. */
  responseComplete(status: number, upgraded: boolean): void;
}

export const RESPONSE_LIMITS: HeadLimits = { maxBytes: 64 * 1024, maxFields: 256 };
const RESPONSE_OVERSIZE: Oversize = { status: 502, code: 'MUON_ERR_BAD_RESPONSE' };

const HEAD = 0;
const LENGTH = 1;
const CHUNKED = 2;
const UNTIL_CLOSE = 3;
const RAW = 4;

function bad(message: string): HttpError {
  return new HttpError(502, 'MUON_ERR_BAD_RESPONSE', message);
}

export class ResponseScanner {
  readonly #listener: ResponseListener;
  readonly #limits: HeadLimits;
  readonly #head: HeadScanner;
  readonly #sent: SentRequest[] = [];
  #state = HEAD;
  #status = 0;
  #remaining = 0;
  #chunked: ChunkedScanner | undefined;

  constructor(listener: ResponseListener, limits: HeadLimits = RESPONSE_LIMITS) {
    this.#listener = listener;
    this.#limits = limits;
    this.#head = new HeadScanner(limits.maxBytes, RESPONSE_OVERSIZE, false);
  }

  /** A request went to the target: its response is expected after those already outstanding. */
  expect(request: SentRequest): void {
    this.#sent.push(request);
  }

  /** Requests sent and not completely answered. */
  get outstanding(): number {
    return this.#sent.length;
  }

  /** Some byte of the response to the oldest outstanding request has arrived. */
  get answering(): boolean {
    return this.#state !== HEAD || this.#head.started;
  }

  /** Reading a response head (or waiting for one): no byte of a body is under way. */
  get inHead(): boolean {
    return this.#state === HEAD;
  }

  /** Bytes of a response head that has begun and not ended (they end the last chunk scanned). */
  get unfinishedHead(): number {
    return this.#state === HEAD ? this.#head.length : 0;
  }

  /** A 101 switched the connection to another protocol: nothing is scanned any more. */
  get upgraded(): boolean {
    return this.#state === RAW;
  }

  /** Reads every byte of `chunk`. Throws HttpError (502) when the target does not speak HTTP/1.x. */
  scan(chunk: Buffer): void {
    try {
      this.#scan(chunk);
    } catch (error) {
      // The shared parsers speak of the visitor's request (400): here it is the target's fault.
      if (error instanceof HttpError && error.status !== 502) throw bad(error.message);
      throw error;
    }
  }

  #scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.#state !== RAW) {
      switch (this.#state) {
        case HEAD: {
          if (this.#sent.length === 0) throw bad('the target sent a response no request asked for');
          const at = this.#head.feed(chunk, i);
          if (at < 0) return;
          i = at;
          this.#onHead(this.#head.take());
          break;
        }
        case LENGTH: {
          const take = Math.min(this.#remaining, chunk.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#complete(false);
          break;
        }
        case CHUNKED: {
          const at = (this.#chunked as ChunkedScanner).scan(chunk, i);
          if (at < 0) return;
          i = at;
          this.#chunked = undefined;
          this.#complete(false);
          break;
        }
        default:
          return; // UNTIL_CLOSE: everything is body
      }
    }
  }

  /**
   * The target closed its side. Completes a response delimited by the close; true when the
   * stream ended cleanly between responses (or after the last one it owed).
   */
  end(): boolean {
    if (this.#state === UNTIL_CLOSE) {
      this.#complete(false);
      return true;
    }
    return this.#state === RAW || (this.#state === HEAD && !this.#head.started);
  }

  #onHead(head: Buffer): void {
    const { startLine, fields } = splitHead(head, this.#limits, RESPONSE_OVERSIZE);
    const match = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/s.exec(startLine);
    if (!match) throw bad('the status line is not "HTTP/1.1 NNN reason"');
    const status = Number(match[2]);
    const request = this.#sent[0] as SentRequest;
    this.#status = status;
    if (status === 101) {
      if (!request.upgrade) throw bad('101 Switching Protocols to a request that did not ask to upgrade');
      this.#complete(true);
      return;
    }
    if (status < 200) return; // 100 Continue, 103 Early Hints: the final response follows
    if (request.method === 'HEAD' || status === 204 || status === 304) {
      this.#complete(false);
      return;
    }
    this.#frame(fields);
  }

  #frame(fields: readonly HeaderField[]): void {
    if (valuesOf(fields, 'transfer-encoding').length > 0) {
      // Transfer-Encoding overrides Content-Length; a body not chunked last runs until the close.
      if (listOf(fields, 'transfer-encoding').at(-1) === 'chunked') {
        this.#state = CHUNKED;
        this.#chunked = new ChunkedScanner();
      } else {
        this.#state = UNTIL_CLOSE;
      }
      return;
    }
    const length = contentLengthOf(fields);
    if (length === undefined) {
      this.#state = UNTIL_CLOSE;
    } else if (length === 0) {
      this.#complete(false);
    } else {
      this.#state = LENGTH;
      this.#remaining = length;
    }
  }

  #complete(upgraded: boolean): void {
    this.#sent.shift();
    this.#state = upgraded ? RAW : HEAD;
    this.#listener.responseComplete(this.#status, upgraded);
  }
}
