// A socket speaking Muon frames: decodes what arrives into messages and DATA pieces for the
// current handler, and writes messages and DATA frames. Protocol errors are reported once;
// the owner decides what to do (usually send ERROR and close).

import type { Socket } from 'node:net';
import { MuonError } from '../errors.ts';
import { FrameDecoder, type FrameSink } from '../protocol/frame-decoder.ts';
import { dataHeader, decodeMessage, encodeMessage, type Message } from '../protocol/messages.ts';
import { stopReading } from './kernel-relay.ts';

export interface FrameHandler {
  onMessage(msg: Message): void;
  /** `frameEnd`: this piece ends its DATA frame (see FrameSink.onData). */
  onData(piece: Buffer, frameEnd: boolean): void;
  /** STREAM_DATA, for a multiplexed carrier; anywhere else it is a protocol error. */
  onStreamData?(streamId: number, piece: Buffer, frameEnd: boolean): void;
}

/** Below this size a DATA payload is copied behind its header (one buffer); above, written with writev. */
const COPY_THRESHOLD = 1024;

export class FramedSocket implements FrameSink {
  readonly socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameSize: number;
  #handler: FrameHandler;
  #onProtocolError: (error: MuonError) => void;
  #failed = false;
  readonly #onSocketData = (chunk: Buffer): void => this.#onChunk(chunk);
  /** detach() was called while a chunk was being decoded: called with its rest once it is. */
  #onDetached: ((rest: Buffer) => void) | undefined;
  #decoding = false;

  constructor(
    socket: Socket,
    options: { maxFrameSize: number; expectPreamble: boolean },
    handler: FrameHandler,
    onProtocolError: (error: MuonError) => void,
  ) {
    this.socket = socket;
    this.#maxFrameSize = options.maxFrameSize;
    this.#handler = handler;
    this.#onProtocolError = onProtocolError;
    this.#decoder = new FrameDecoder(this, options);
    socket.on('data', this.#onSocketData);
    // Resets and the like end in 'close', which the owner handles.
    socket.on('error', () => {});
  }

  /** Routes what arrives next to `handler`, first replaying anything held by hold(). */
  setHandler(handler: FrameHandler): void {
    const held = this.#handler;
    this.#handler = handler;
    if (held instanceof HoldingHandler) held.replay(handler);
  }

  /** Keeps what arrives until the next setHandler() (between a handshake step and the next owner). */
  hold(): void {
    if (!(this.#handler instanceof HoldingHandler)) this.#handler = new HoldingHandler();
  }

  setProtocolErrorHandler(onProtocolError: (error: MuonError) => void): void {
    this.#onProtocolError = onProtocolError;
  }

  /**
   * Stops decoding and reading: the frame being handled now is the last. `onDetached` gets the
   * bytes that followed it in the same read (at once when called outside a handler); from then on
   * the socket is its caller's, unread, as a raw session's byte stream.
   */
  detach(onDetached: (rest: Buffer) => void): void {
    this.socket.off('data', this.#onSocketData);
    stopReading(this.socket);
    if (!this.#decoding) {
      onDetached(Buffer.alloc(0));
      return;
    }
    this.#decoder.stop();
    this.#onDetached = onDetached;
  }

  #onChunk(chunk: Buffer): void {
    if (this.#failed) return;
    this.#decoding = true;
    try {
      const rest = this.#decoder.push(chunk);
      const onDetached = this.#onDetached;
      this.#onDetached = undefined;
      onDetached?.(rest);
    } catch (error) {
      this.#failed = true;
      this.socket.pause();
      this.#onProtocolError(
        error instanceof MuonError ? error : new MuonError('MUON_ERR_INTERNAL', undefined, { cause: error }),
      );
    } finally {
      this.#decoding = false;
    }
  }

  onFrame(type: number, payload: Buffer): void {
    this.#handler.onMessage(decodeMessage(type, payload));
  }

  onData(piece: Buffer, frameEnd: boolean): void {
    this.#handler.onData(piece, frameEnd);
  }

  onStreamData(streamId: number, piece: Buffer, frameEnd: boolean): void {
    const handler = this.#handler;
    if (!handler.onStreamData) {
      throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'STREAM_DATA outside a multiplexed carrier');
    }
    handler.onStreamData(streamId, piece, frameEnd);
  }

  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Writes `msg`; `onWritten` is called once the socket has written it (with its error if it could not). */
  send(msg: Message, onWritten?: (error?: Error | null) => void): boolean {
    if (!this.writable) return false;
    return this.socket.write(encodeMessage(msg), onWritten);
  }

  /** Writes `chunk` as DATA frame(s). Returns false when the socket wants the writer to wait for 'drain'. */
  sendData(chunk: Buffer): boolean {
    const socket = this.socket;
    if (!this.writable) return false;
    const length = chunk.length;
    if (length <= COPY_THRESHOLD) {
      const frame = Buffer.allocUnsafe(5 + length);
      dataHeader(length).copy(frame, 0);
      chunk.copy(frame, 5);
      return socket.write(frame);
    }
    if (length > this.#maxFrameSize) return this.#sendSplit(chunk);
    socket.cork();
    socket.write(dataHeader(length));
    const ok = socket.write(chunk);
    socket.uncork();
    return ok;
  }

  #sendSplit(chunk: Buffer): boolean {
    let ok = true;
    for (let at = 0; at < chunk.length; at += this.#maxFrameSize) {
      ok = this.sendData(chunk.subarray(at, Math.min(chunk.length, at + this.#maxFrameSize)));
    }
    return ok;
  }
}

class HoldingHandler implements FrameHandler {
  readonly #items: Array<Message | { piece: Buffer; frameEnd: boolean; streamId?: number }> = [];

  onMessage(msg: Message): void {
    this.#items.push(msg);
  }

  onData(piece: Buffer, frameEnd: boolean): void {
    this.#items.push({ piece, frameEnd });
  }

  onStreamData(streamId: number, piece: Buffer, frameEnd: boolean): void {
    this.#items.push({ piece, frameEnd, streamId });
  }

  replay(handler: FrameHandler): void {
    for (const item of this.#items.splice(0)) {
      if (!('piece' in item)) handler.onMessage(item);
      else if (item.streamId === undefined) handler.onData(item.piece, item.frameEnd);
      else if (handler.onStreamData) handler.onStreamData(item.streamId, item.piece, item.frameEnd);
      else throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'STREAM_DATA outside a multiplexed carrier');
    }
  }
}
