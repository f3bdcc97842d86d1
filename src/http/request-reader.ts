// Reads a visitor's byte stream as a sequence of HTTP/1.1 requests: a head, then its body (raw,
// chunk framing included, as views into the received chunks: never copied), then the request's
// end; and so on for pipelined requests. Pull-based, so the router can stop between events (to
// check a password, to wait for earlier responses) and go on later. Pure: no sockets.

import { ChunkedScanner } from './chunked-scanner.ts';
import { type HeadLimits, HeadScanner } from './message-head.ts';
import { parseRequestHead, REQUEST_LIMITS, REQUEST_OVERSIZE, type RequestHead } from './request-head.ts';

export type RequestEvent =
  | { kind: 'head'; head: RequestHead }
  /** Bytes of the current request's body, exactly as received (a view, not a copy). */
  | { kind: 'body'; data: Buffer }
  /** The current request is complete; what follows is the next request's head. */
  | { kind: 'end' };

const HEAD = 0;
const LENGTH = 1;
const CHUNKED = 2;
const END = 3;

export class RequestReader {
  readonly #limits: HeadLimits;
  readonly #head: HeadScanner;
  /** Received and not yet returned: the first chunk from #offset, then the others whole. */
  readonly #queue: Buffer[] = [];
  #offset = 0;
  #state = HEAD;
  #remaining = 0;
  #chunked: ChunkedScanner | undefined;

  constructor(limits: HeadLimits = REQUEST_LIMITS) {
    this.#limits = limits;
    this.#head = new HeadScanner(limits.maxBytes, REQUEST_OVERSIZE, true);
  }

  push(chunk: Buffer): void {
    if (chunk.length > 0) this.#queue.push(chunk);
  }

  /** Between requests, with no byte of the next one received (idle keep-alive). */
  get idle(): boolean {
    return this.#state === HEAD && !this.#head.started && this.buffered === 0;
  }

  /** The next event will come from a request head (not from a body): between requests, or in a head. */
  get awaitingHead(): boolean {
    return this.#state === HEAD;
  }

  /** Bytes received and not yet returned. */
  get buffered(): number {
    let n = -this.#offset;
    for (const chunk of this.#queue) n += chunk.length;
    return n;
  }

  /** The next event, or undefined until more bytes arrive. Throws HttpError on a bad request. */
  next(): RequestEvent | undefined {
    if (this.#state === END) {
      this.#state = HEAD;
      return { kind: 'end' };
    }
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0] as Buffer;
      if (this.#offset >= chunk.length) {
        this.#shift();
        continue;
      }
      if (this.#state === HEAD) {
        const at = this.#head.feed(chunk, this.#offset);
        if (at < 0) {
          this.#shift();
          continue;
        }
        this.#offset = at;
        const head = parseRequestHead(this.#head.take(), this.#limits);
        this.#startBody(head);
        return { kind: 'head', head };
      }
      return this.#body(chunk);
    }
    return undefined;
  }

  /**
   * Everything received and not returned yet, for a connection that stops being HTTP (after a
   * 101 Switching Protocols every later byte is the new protocol's).
   */
  drain(): Buffer[] {
    const rest = this.#queue.splice(0);
    if (rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(this.#offset);
    this.#offset = 0;
    return rest.filter((b) => b.length > 0);
  }

  #startBody(head: RequestHead): void {
    const { body } = head;
    if (body.kind === 'none') {
      this.#state = END;
    } else if (body.kind === 'length') {
      this.#state = LENGTH;
      this.#remaining = body.length;
    } else {
      this.#state = CHUNKED;
      this.#chunked = new ChunkedScanner();
    }
  }

  #body(chunk: Buffer): RequestEvent {
    const from = this.#offset;
    let to: number;
    if (this.#state === LENGTH) {
      to = Math.min(chunk.length, from + this.#remaining);
      this.#remaining -= to - from;
      if (this.#remaining === 0) this.#state = END;
    } else {
      const at = (this.#chunked as ChunkedScanner).scan(chunk, from);
      to = at < 0 ? chunk.length : at;
      if (at >= 0) {
        this.#state = END;
        this.#chunked = undefined;
      }
    }
    this.#offset = to;
    return { kind: 'body', data: chunk.subarray(from, to) };
  }

  #shift(): void {
    this.#queue.shift();
    this.#offset = 0;
  }
}
