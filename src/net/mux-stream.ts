// One session on a multiplexed carrier, presented as a proxy channel of its own (ChannelPort) so
// that relays and proxy channels run on it unchanged. Flow control is a credit window per
// direction: the sender may have `window` bytes of the stream's DATA unacknowledged; the
// receiver grants them back (WINDOW) as it hands them on, and stops granting while paused. So a
// stream whose local side does not read holds at most one window (plus one frame), and never
// stalls the carrier or the other streams on it. Writes beyond the credit wait in order, messages
// behind them. Every stream starts with the same window; a receiver whose local side took a whole
// window without pausing doubles its window (up to MAX_WINDOW; it never shrinks), so a fast
// stream is not held to the small window's round trips. A stream that never flowed fast keeps
// the small one; one that did and then stalls holds up to MAX_WINDOW, as a socket's kernel
// buffers would. The carrier bounds what all its streams' windows may grow by together, and caps
// what one stream may have in flight while others are moving data too (see windowCap): a bulk
// transfer's bytes in flight are what every other stream's messages queue behind.

import { EventEmitter } from 'node:events';
import { type ErrorCode, MuonError } from '../errors.ts';
import { STREAM_MAX_PAYLOAD } from '../protocol/frame-types.ts';
import type { Message, StreamMessage } from '../protocol/messages.ts';
import type { ChannelPort, ChannelSocket } from './channel-port.ts';
import type { FrameHandler } from './framed-socket.ts';

/** What a stream needs of its carrier. */
export interface StreamCarrier {
  readonly writable: boolean;
  writeMessage(msg: Message): void;
  writeData(streamId: number, chunk: Buffer): void;
  forget(streamId: number): void;
  /** Asks to grow a receive window by `bytes` beyond its start; false when the carrier's budget is spent. */
  reserveGrowth(bytes: number): boolean;
  /** A closed stream gives back what its window grew by. */
  releaseGrowth(bytes: number): void;
  /** The most this stream may have in flight towards us now (Infinity: its whole window). */
  windowCap(streamId: number): number;
}

/** The largest a receive window grows to. */
export const MAX_WINDOW = 4 * 1024 * 1024;

/** Pieces below this size are copied when held, so they do not pin the whole socket chunk. */
const COPY_BELOW = 4096;

type Outgoing = Buffer | Message;
type Incoming = StreamMessage | { piece: Buffer; frameEnd: boolean };

const NO_HANDLER: FrameHandler = {
  onMessage: () => {},
  onData: () => {},
};

export class MuxStream extends EventEmitter implements ChannelPort, ChannelSocket {
  readonly id: number;
  readonly #carrier: StreamCarrier;
  /** Our receive window: what the peer may send unacknowledged; it only grows. */
  #window: number;
  /** What the window has grown by, reserved from the carrier's budget until the stream closes. */
  #grown = 0;
  #handler: FrameHandler = NO_HANDLER;
  #onProtocolError: (error: MuonError) => void = () => {};
  /** 'closing': released with writes still waiting for credit; they go out, then it is forgotten. */
  #state: 'open' | 'closing' | 'closed' = 'open';
  // Sending: credit left, writes waiting for more, and whether a writer waits for 'drain'.
  #credit: number;
  readonly #queue: Outgoing[] = [];
  #queuedBytes = 0;
  #wantDrain = false;
  // Receiving: held while paused, and bytes handed on but not yet granted back.
  #paused = false;
  #drainScheduled = false;
  readonly #inbox: Incoming[] = [];
  #inboxBytes = 0;
  #ungranted = 0;
  /** Bytes handed on since the local side last paused us (it grows the window). */
  #flowed = 0;

  constructor(carrier: StreamCarrier, id: number, window: number) {
    super();
    this.#carrier = carrier;
    this.id = id;
    this.#window = window;
    this.#credit = window;
  }

  get socket(): this {
    return this;
  }

  get writable(): boolean {
    return this.#state === 'open' && this.#carrier.writable;
  }

  get destroyed(): boolean {
    return this.#state === 'closed';
  }

  get writableLength(): number {
    return this.#queuedBytes;
  }

  setHandler(handler: FrameHandler): void {
    this.#handler = handler;
  }

  setProtocolErrorHandler(onProtocolError: (error: MuonError) => void): void {
    this.#onProtocolError = onProtocolError;
  }

  // Sending

  send(msg: Message): boolean {
    if (!this.writable) return false;
    // An error about one stream ends that stream, not the carrier.
    if (msg.type === 'ERROR') {
      this.#reset(msg.code, msg.message);
      return false;
    }
    if (this.#queue.length > 0) {
      this.#queue.push(msg);
      return false;
    }
    this.#writeMessage(msg);
    return true;
  }

  sendData(chunk: Buffer): boolean {
    if (!this.writable) return false;
    const rest = this.#queue.length > 0 ? chunk : this.#sendWithinCredit(chunk);
    if (rest !== undefined) {
      this.#queue.push(rest);
      this.#queuedBytes += rest.length;
    } else if (this.#credit > 0) return true;
    this.#wantDrain = true;
    return false;
  }

  /** WINDOW from the peer: `increment` more bytes may be sent. */
  grant(increment: number): void {
    if (this.#state === 'closed') return;
    this.#credit += increment;
    while (this.#queue.length > 0 && this.#carrier.writable) {
      const next = this.#queue[0] as Outgoing;
      if (!Buffer.isBuffer(next)) {
        this.#queue.shift();
        this.#writeMessage(next);
        continue;
      }
      const rest = this.#sendWithinCredit(next);
      this.#queuedBytes -= next.length - (rest?.length ?? 0);
      if (rest !== undefined) {
        this.#queue[0] = rest;
        return;
      }
      this.#queue.shift();
    }
    if (this.#queue.length > 0) return;
    if (this.#state === 'closing') {
      this.#close();
      return;
    }
    if (this.#wantDrain && this.#credit > 0) {
      this.#wantDrain = false;
      this.emit('drain');
    }
  }

  #writeMessage(msg: Message): void {
    this.#carrier.writeMessage({ type: 'STREAM', streamId: this.id, message: msg as StreamMessage });
  }

  /**
   * Sends `chunk` in frames of at most STREAM_MAX_PAYLOAD while credit lasts, and returns what is
   * left. The last frame may overdraw the credit (by less than one frame), so a datagram, which
   * always fits in one frame, keeps its boundary.
   */
  #sendWithinCredit(chunk: Buffer): Buffer | undefined {
    if (chunk.length === 0) {
      this.#carrier.writeData(this.id, chunk);
      return undefined;
    }
    let at = 0;
    while (at < chunk.length && this.#credit > 0) {
      const end = Math.min(chunk.length, at + STREAM_MAX_PAYLOAD);
      this.#carrier.writeData(this.id, at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end));
      this.#credit -= end - at;
      at = end;
    }
    return at === chunk.length ? undefined : chunk.subarray(at);
  }

  // Receiving (the carrier calls these)

  deliverMessage(msg: StreamMessage): void {
    if (this.#state !== 'open') return;
    if (this.#paused || this.#inbox.length > 0) {
      this.#inbox.push(msg);
      return;
    }
    this.#guard(() => this.#handler.onMessage(msg));
  }

  deliverData(piece: Buffer, frameEnd: boolean): void {
    if (this.#state !== 'open') return;
    if (this.#paused || this.#inbox.length > 0) {
      // An honest peer stays within the window it was granted, plus the one frame that may overdraw it.
      if (this.#inboxBytes + this.#ungranted + piece.length > this.#window + STREAM_MAX_PAYLOAD) {
        this.#guard(() => {
          throw new MuonError('MUON_ERR_FLOW_CONTROL', `stream ${this.id} sent beyond its window`);
        });
        return;
      }
      const held = piece.length < COPY_BELOW ? Buffer.from(piece) : piece;
      this.#inbox.push({ piece: held, frameEnd });
      this.#inboxBytes += piece.length;
      return;
    }
    this.#handOn(piece, frameEnd);
  }

  pause(): this {
    this.#paused = true;
    this.#flowed = 0;
    return this;
  }

  /** As a socket's: held pieces are delivered after the current call has returned, not inside it. */
  resume(): this {
    this.#paused = false;
    if (this.#inbox.length > 0 && !this.#drainScheduled) {
      this.#drainScheduled = true;
      process.nextTick(this.#drainInbox);
    }
    return this;
  }

  readonly #drainInbox = () => {
    this.#drainScheduled = false;
    while (!this.#paused && this.#state === 'open' && this.#inbox.length > 0) {
      const item = this.#inbox.shift() as Incoming;
      if ('piece' in item) {
        this.#inboxBytes -= item.piece.length;
        this.#handOn(item.piece, item.frameEnd);
      } else {
        this.#guard(() => this.#handler.onMessage(item));
      }
    }
  };

  isPaused(): boolean {
    return this.#paused;
  }

  #handOn(piece: Buffer, frameEnd: boolean): void {
    this.#ungranted += piece.length;
    this.#flowed += piece.length;
    const cap = this.#carrier.windowCap(this.id);
    if (this.#ungranted >= Math.min(this.#window, cap) / 4 && this.#carrier.writable) this.#grantBack(cap);
    // Called for every piece of data: no closure, unlike #guard.
    try {
      this.#handler.onData(piece, frameEnd);
    } catch (error) {
      this.#failed(error);
    }
  }

  /**
   * Grants back what was handed on, in quarters of the window: fewer WINDOW frames, and the sender
   * never runs dry. The peer may have at most window − ungranted − held bytes in flight; under the
   * carrier's cap, only as much is granted as keeps that within the cap (the rest waits).
   */
  #grantBack(cap: number): void {
    const limit = Math.min(this.#window, cap);
    const inFlight = this.#window - this.#ungranted - this.#inboxBytes;
    let increment = Math.min(this.#ungranted, limit - inFlight);
    if (increment < limit / 4) return;
    this.#ungranted -= increment;
    if (this.#flowed >= this.#window && this.#window < Math.min(MAX_WINDOW, cap)) {
      const by = Math.min(MAX_WINDOW, cap, this.#window * 2) - this.#window;
      if (this.#carrier.reserveGrowth(by)) {
        increment += by;
        this.#window += by;
        this.#grown += by;
      }
      this.#flowed = 0;
    }
    this.#carrier.writeMessage({ type: 'WINDOW', streamId: this.id, increment });
  }

  /** A protocol error inside one stream ends that stream; the carrier and its other streams go on. */
  #guard(deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      this.#failed(error);
    }
  }

  #failed(error: unknown): void {
    this.#onProtocolError(
      error instanceof MuonError ? error : new MuonError('MUON_ERR_INTERNAL', undefined, { cause: error }),
    );
  }

  // Lifetime

  /**
   * The session on this stream is over. Clean (both terminators exchanged), the stream is
   * forgotten once its waiting writes are out; otherwise it is reset, and the peer drops it as it
   * would a closed channel.
   */
  release(clean: boolean): void {
    if (this.#state !== 'open') return;
    if (!clean) {
      this.#reset('MUON_ERR_PEER_ERROR', 'session aborted');
      return;
    }
    if (this.#queue.length > 0 && this.#carrier.writable) {
      this.#state = 'closing';
      this.#handler = NO_HANDLER;
      return;
    }
    this.#close();
  }

  /** Like destroying a socket: the peer gets RESET, 'close' follows. Idempotent. */
  destroy(): this {
    if (this.#state !== 'closed') this.#reset('MUON_ERR_PEER_ERROR', 'stream closed');
    return this;
  }

  /** RESET from the peer, or the carrier is gone: nothing more can be exchanged. */
  lost(): void {
    this.#close();
  }

  #reset(code: ErrorCode, message: string): void {
    if (this.#carrier.writable)
      this.#carrier.writeMessage({ type: 'RESET', streamId: this.id, code, message });
    this.#close();
  }

  #close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#inbox.length = 0;
    this.#inboxBytes = 0;
    this.#carrier.releaseGrowth(this.#grown);
    this.#grown = 0;
    this.#carrier.forget(this.id);
    // As a socket does: 'close' comes after the current call has returned.
    process.nextTick(() => this.emit('close'));
  }
}
