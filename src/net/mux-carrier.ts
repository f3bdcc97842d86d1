// A multiplexed carrier: one proxy channel that carries many sessions at once, each a MuxStream
// with its own id and credit windows. The server opens streams (CONNECT on a new id); the client
// accepts them. Frames for a stream that is already gone are dropped: they were on the wire
// before the peer learnt of its end. What all streams write within one turn of the event loop
// leaves in one write to the socket, so the middle hop makes fewer writes than there are messages.
// While more than one stream is moving data towards us, each may have at most SHARED_WINDOW in
// flight: whatever a bulk transfer has queued is what another stream's reply waits behind.

import { MuonError } from '../errors.ts';
import { encodeMessage, type Message, streamDataHeader } from '../protocol/messages.ts';
import type { FramedSocket, FrameHandler } from './framed-socket.ts';
import { MuxStream, type StreamCarrier } from './mux-stream.ts';
import { ReadYield } from './read-yield.ts';
import { RecentActivity, sessionActivity } from './recent-activity.ts';

/** Bytes of a stream's DATA in flight before its sender first waits for WINDOW (the initial window). */
export const STREAM_WINDOW = 256 * 1024;

/**
 * What the receive windows of all streams of one carrier may grow by together, beyond their
 * initial 256 KiB each: 16 streams at the full 4 MiB. A stalled stream holds at most its window,
 * so this bounds what fast-then-stalled streams can make a process hold.
 */
export const WINDOW_GROWTH_BUDGET = 64 * 1024 * 1024;

/**
 * What one stream may have in flight towards us while another stream has also delivered data in
 * the last ACTIVE_MS (recent-activity.ts). Alone, a stream's window grows to MAX_WINDOW (4 MiB);
 * at 1 GB/s that is 4 ms of queue in front of every other stream's messages, at this cap about
 * 1 ms (docs/benchmarks.md).
 */
export const SHARED_WINDOW = 1024 * 1024;

/** Below this size a DATA payload is copied behind its header; above, written as its own buffer. */
const COPY_THRESHOLD = 1024;

export interface MuxCarrierOptions {
  /** The client's side: a CONNECT on a new stream id; the callee gives the stream its handler. */
  onStream?: (stream: MuxStream) => void;
  /** A carrier-level protocol error; the owner closes the carrier. */
  onProtocolError: (error: MuonError) => void;
  /** A monotonic clock in milliseconds (tests give their own); performance.now() by default. */
  now?: () => number;
  /** The process's sessions moving data (tests give their own): the carrier yields the loop to them. */
  sessions?: RecentActivity;
}

export class MuxCarrier implements FrameHandler, StreamCarrier {
  readonly framed: FramedSocket;
  readonly #options: MuxCarrierOptions;
  readonly #streams = new Map<number, MuxStream>();
  #nextId = 1;
  /** Window growth reserved by the streams open now (see WINDOW_GROWTH_BUDGET). */
  #growth = 0;
  /** Which streams delivered data lately (windowCap). */
  readonly #delivered: RecentActivity;
  /** Frames written this turn, sent together when it ends. */
  #batch: Buffer[] = [];
  #closed = false;
  readonly #flush = () => {
    const batch = this.#batch;
    this.#batch = [];
    const socket = this.framed.socket;
    if (!this.writable) return;
    if (batch.length === 1) {
      socket.write(batch[0] as Buffer);
      return;
    }
    socket.cork();
    for (const buffer of batch) socket.write(buffer);
    socket.uncork();
  };

  constructor(framed: FramedSocket, options: MuxCarrierOptions) {
    this.framed = framed;
    this.#options = options;
    this.#delivered = new RecentActivity(options.now);
    framed.setHandler(this);
    framed.setProtocolErrorHandler(options.onProtocolError);
    // Nothing else pauses a carrier: it only ever yields the loop to other sessions' sockets.
    const sessions = options.sessions ?? sessionActivity;
    const reads = new ReadYield(framed.socket, { othersWaiting: () => sessions.shared() });
    framed.socket.on('data', (chunk: Buffer) => reads.read(chunk.length));
    framed.socket.on('close', () => {
      reads.stop();
      this.#lostAll();
    });
  }

  get writable(): boolean {
    return !this.#closed && this.framed.writable;
  }

  /** Streams open on this carrier. */
  get size(): number {
    return this.#streams.size;
  }

  /** The server's side: a new stream, whose first message is the session's CONNECT. */
  openStream(): MuxStream {
    let id = this.#nextId;
    while (this.#streams.has(id)) id = (id % 0xffffffff) + 1;
    this.#nextId = (id % 0xffffffff) + 1;
    return this.#add(id);
  }

  /** Closes the carrier and every stream on it. Idempotent. */
  close(): void {
    this.framed.socket.destroy();
    this.#lostAll();
  }

  // StreamCarrier

  writeMessage(msg: Message): void {
    this.#queue(encodeMessage(msg));
  }

  writeData(streamId: number, chunk: Buffer): void {
    const header = streamDataHeader(streamId, chunk.length);
    if (chunk.length <= COPY_THRESHOLD) {
      this.#queue(Buffer.concat([header, chunk], header.length + chunk.length));
      return;
    }
    this.#queue(header);
    this.#batch.push(chunk);
  }

  forget(streamId: number): void {
    this.#streams.delete(streamId);
  }

  reserveGrowth(bytes: number): boolean {
    if (this.#growth + bytes > WINDOW_GROWTH_BUDGET) return false;
    this.#growth += bytes;
    return true;
  }

  releaseGrowth(bytes: number): void {
    this.#growth -= bytes;
  }

  windowCap(streamId: number): number {
    return this.#delivered.othersActive(streamId) ? SHARED_WINDOW : Number.POSITIVE_INFINITY;
  }

  // FrameHandler

  onMessage(msg: Message): void {
    switch (msg.type) {
      case 'STREAM': {
        let stream = this.#streams.get(msg.streamId);
        if (!stream && msg.message.type === 'CONNECT' && this.#options.onStream) {
          stream = this.#add(msg.streamId);
          this.#options.onStream(stream);
        }
        stream?.deliverMessage(msg.message);
        return;
      }
      case 'WINDOW':
        this.#streams.get(msg.streamId)?.grant(msg.increment);
        return;
      case 'RESET':
        this.#streams.get(msg.streamId)?.lost();
        return;
      case 'ERROR':
        this.#options.onProtocolError(new MuonError(msg.code, msg.message));
        return;
      default:
        throw new MuonError(
          'MUON_ERR_UNEXPECTED_FRAME',
          `${msg.type} is not allowed on a multiplexed carrier`,
        );
    }
  }

  onData(): void {
    throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA without a stream on a multiplexed carrier');
  }

  onStreamData(streamId: number, piece: Buffer, frameEnd: boolean): void {
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    if (piece.length > 0) this.#delivered.note(streamId); // empty pieces (probes) are no activity
    stream.deliverData(piece, frameEnd);
  }

  #add(id: number): MuxStream {
    const stream = new MuxStream(this, id, STREAM_WINDOW);
    this.#streams.set(id, stream);
    return stream;
  }

  #queue(buffer: Buffer): void {
    if (this.#batch.length === 0) setImmediate(this.#flush);
    this.#batch.push(buffer);
  }

  #lostAll(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#batch = [];
    for (const stream of [...this.#streams.values()]) stream.lost();
    this.#streams.clear();
  }
}
