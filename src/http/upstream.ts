// The target side of a visitor connection: its stream through the tunnel to one mapping's target.
// The target's bytes go to the visitor as they come (with backpressure) while a scanner follows
// where each answer ends; only a response head waits until it is whole, so that a target that
// closes or talks nonsense before its head is complete gets the visitor a page instead; the owner hears when everything sent has been answered, when a 101
// switched to raw bytes, and how the stream ended. A released stream is ended cleanly, drained,
// and dropped if the target does not close within a grace period.

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { TunnelStream } from '../server/visitor-stream.ts';
import { type ResponseListener, ResponseScanner, type SentRequest } from './response-scanner.ts';

export interface UpstreamOwner {
  /** Every request sent has its complete answer, passed on to the visitor. */
  answered(): void;
  /** A 101 was passed on: from now on bytes flow raw both ways. */
  upgraded(): void;
  /** The target will not answer what it was sent; `page`: nothing of that answer reached the visitor. */
  lost(code: ErrorCode, page: boolean): void;
  /** The stream ended cleanly with nothing owed (the target's own keep-alive timeout, say). */
  idle(): void;
  /** The target closed its side after a raw exchange or an answer that ran until the close. */
  ended(): void;
}

/** How long a released stream may take to close before it is dropped. */
const RELEASE_GRACE_MS = 5000;

export class Upstream implements ResponseListener {
  readonly mappingId: string;
  readonly #tunnel: TunnelStream;
  readonly #stream: Duplex;
  readonly #visitor: Socket;
  readonly #owner: UpstreamOwner;
  readonly #log: Logger;
  readonly #scanner = new ResponseScanner(this);
  #released = false;
  #ended = false;
  #held = false;
  #completed = 0;
  #upgraded = false;
  /** Bytes of a response head still unfinished, not passed on yet (at most the head limit). */
  #heldHead: Buffer[] = [];
  #grace: NodeJS.Timeout | undefined;

  constructor(mappingId: string, tunnel: TunnelStream, visitor: Socket, owner: UpstreamOwner, log: Logger) {
    this.mappingId = mappingId;
    this.#tunnel = tunnel;
    this.#stream = tunnel.stream;
    this.#visitor = visitor;
    this.#owner = owner;
    this.#log = log;
    const stream = this.#stream;
    stream.on('data', (chunk: Buffer) => this.#fromTarget(chunk));
    stream.on('end', () => this.#targetEnded());
    stream.on('error', () => {}); // 'close' follows
    stream.on('close', () => this.#closed());
  }

  /** Requests sent and not completely answered. */
  get outstanding(): number {
    return this.#scanner.outstanding;
  }

  /** A request went to the target (its head is written next). */
  expect(request: SentRequest): void {
    this.#scanner.expect(request);
  }

  /** Writes towards the target; false when the stream is full (wait for onDrain). */
  write(bytes: Buffer): boolean {
    return this.#stream.destroyed ? true : this.#stream.write(bytes);
  }

  onDrain(callback: () => void): void {
    this.#stream.once('drain', callback);
  }

  /** Half-closes towards the target: it has been sent everything. */
  end(): void {
    if (!this.#stream.writableEnded) this.#stream.end();
  }

  /** No longer used: ended cleanly; whatever still comes is dropped, and nothing more is reported. */
  release(): void {
    this.#released = true;
    this.end();
    this.#stream.resume();
    if (!this.#stream.destroyed) {
      this.#grace = setTimeout(() => this.#stream.destroy(), RELEASE_GRACE_MS);
      this.#grace.unref();
    }
  }

  /** Drops the stream (the client is told to close its connection to the target). */
  abort(): void {
    this.#released = true;
    clearTimeout(this.#grace);
    this.#stream.destroy();
  }

  // ResponseListener: called while a chunk is scanned, before it is passed on.
  responseComplete(_status: number, upgraded: boolean): void {
    this.#completed++;
    if (upgraded) this.#upgraded = true;
  }

  #fromTarget(chunk: Buffer): void {
    if (this.#released) return;
    const scanner = this.#scanner;
    this.#completed = 0;
    this.#upgraded = false;
    try {
      scanner.scan(chunk);
    } catch (error) {
      this.#log.debug(
        { code: 'MUON_ERR_BAD_RESPONSE', mapping: this.mappingId, err: (error as Error).message },
        'the target answered with something that is not HTTP',
      );
      // A page can go out if the bad part is a head and nothing of this chunk had to go first.
      this.#heldHead = [];
      this.#owner.lost('MUON_ERR_BAD_RESPONSE', scanner.inHead && this.#completed === 0);
      return;
    }
    this.#pass(chunk, scanner.unfinishedHead);
    if (this.#upgraded) this.#owner.upgraded();
    else if (this.#completed > 0 && scanner.outstanding === 0) this.#owner.answered();
  }

  /** Passes `chunk` on, except its last `hold` bytes (a head under way), kept with earlier ones. */
  #pass(chunk: Buffer, hold: number): void {
    let pieces: Buffer[] = [chunk];
    if (this.#heldHead.length > 0) {
      pieces = this.#heldHead;
      pieces.push(chunk);
      this.#heldHead = [];
    }
    let total = 0;
    for (const piece of pieces) total += piece.length;
    let send = total - hold;
    let writable = true;
    for (const piece of pieces) {
      if (send >= piece.length) {
        if (piece.length > 0) writable = this.#visitor.write(piece);
        send -= piece.length;
      } else {
        if (send > 0) writable = this.#visitor.write(piece.subarray(0, send));
        this.#heldHead.push(piece.subarray(Math.max(send, 0)));
        send = 0;
      }
    }
    if (!writable) this.#holdForVisitor();
  }

  /** The visitor reads slower than the target sends: stop reading the target until it drains. */
  #holdForVisitor(): void {
    if (this.#held) return;
    this.#held = true;
    this.#stream.pause();
    this.#visitor.once('drain', () => {
      this.#held = false;
      this.#stream.resume();
    });
  }

  #targetEnded(): void {
    this.#ended = true;
    if (this.#released) return;
    const scanner = this.#scanner;
    this.#completed = 0;
    const clean = scanner.upgraded || scanner.end();
    if (scanner.upgraded || this.#completed > 0) this.#owner.ended();
    else if (!clean)
      this.#owner.lost('MUON_ERR_BAD_RESPONSE', scanner.inHead); // a head cut short was held back
    else if (scanner.outstanding > 0) this.#owner.lost('MUON_ERR_BAD_RESPONSE', true);
    else this.#owner.idle();
  }

  /** Closed without a clean end from the target: the tunnel or the target dropped it. */
  #closed(): void {
    clearTimeout(this.#grace);
    if (this.#released || this.#ended) return;
    const scanner = this.#scanner;
    if (scanner.upgraded || (scanner.answering && !scanner.inHead)) this.#owner.lost(this.#failure, false);
    else if (scanner.outstanding > 0) this.#owner.lost(this.#failure, true);
    else this.#owner.idle();
  }

  get #failure(): ErrorCode {
    return this.#tunnel.failure ?? 'MUON_ERR_BAD_RESPONSE';
  }
}
