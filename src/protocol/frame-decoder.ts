// Incremental frame decoder: feed it socket chunks, it calls back with whole control frames
// and with DATA payload pieces as they arrive (DATA is never buffered or copied; pieces are
// views into the chunks given). Declared lengths are checked before anything is buffered.

import { MuonError } from '../errors.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  FrameType,
  frameTypeName,
  MAGIC,
  MAX_CONTROL_SIZE,
  PREAMBLE_SIZE,
  PROTOCOL_VERSION,
  STREAM_ID_SIZE,
} from './frame-types.ts';

export interface FrameSink {
  /** A complete non-DATA frame. `payload` may be a view into a chunk: copy it to keep it. */
  onFrame(type: number, payload: Buffer): void;
  /**
   * A piece of a DATA frame's payload, in order. One frame may arrive as several pieces;
   * `frameEnd` is true on its last (a zero-length frame is one empty piece with `frameEnd`).
   * Byte streams ignore it; UDP sessions need it to keep datagram boundaries.
   */
  onData(piece: Buffer, frameEnd: boolean): void;
  /**
   * A piece of a STREAM_DATA frame's payload (after its stream id), as onData gives DATA's.
   * A sink without it refuses STREAM_DATA (MUON_ERR_UNEXPECTED_FRAME).
   */
  onStreamData?(streamId: number, piece: Buffer, frameEnd: boolean): void;
}

export interface FrameDecoderOptions {
  maxFrameSize?: number;
  /** Expect the 5-byte preamble (magic + version) before the first frame. */
  expectPreamble?: boolean;
}

const EMPTY = Buffer.alloc(0);
/** #controlType when the next unit is a frame header rather than a control payload. */
const NO_FRAME = -1;
/** #streamId when the current data frame is DATA rather than STREAM_DATA. */
const NO_STREAM = -1;

export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #maxFrameSize: number;
  #needPreamble: boolean;
  /** Type and length of the control frame whose header was read and whose payload is awaited. */
  #controlType = NO_FRAME;
  #controlLength = 0;
  /**
   * The preamble, a header or a control payload that straddles chunks, filled in place: sized
   * once for the unit, so feeding a frame in many small chunks costs linear, not quadratic, time.
   */
  #pending: Buffer = EMPTY;
  #pendingLength = 0;
  /** Scratch for the preamble and headers: they are parsed at once, never handed out. */
  readonly #headerScratch = Buffer.allocUnsafe(Math.max(PREAMBLE_SIZE, FRAME_HEADER_SIZE));
  /** DATA payload bytes still to come for the current frame. */
  #dataLeft = 0;
  /** The stream of the STREAM_DATA frame being read, and its byte count once its id is read. */
  #streamId = NO_STREAM;
  #streamDataLength = 0;
  #failed = false;
  /** stop() was called: nothing more is decoded. */
  #stopped = false;

  constructor(sink: FrameSink, options: FrameDecoderOptions = {}) {
    this.#sink = sink;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#needPreamble = options.expectPreamble ?? false;
  }

  /** Bytes held back waiting for the rest of a header or control frame. */
  get bufferedBytes(): number {
    return this.#pendingLength;
  }

  /**
   * Decodes nothing after the frame (or DATA piece) being delivered now: called from a sink
   * callback, push() returns the rest of its chunk undecoded. A raw session's channel stops at
   * CONNECTED, after which its bytes are the session's own.
   */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Feeds one chunk; returns what stop() left undecoded of it (empty otherwise). Throws MuonError
   * on malformed input; the decoder is unusable after that.
   */
  push(chunk: Buffer): Buffer {
    if (this.#failed) throw new MuonError('MUON_ERR_MALFORMED_FRAME', 'decoder used after an error');
    try {
      return this.#push(chunk);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  #push(chunk: Buffer): Buffer {
    const end = chunk.length;
    let offset = 0;
    while (offset < end) {
      if (this.#stopped) return chunk.subarray(offset);
      if (this.#dataLeft > 0) {
        // DATA goes straight through as views into the caller's chunk: a straddling header
        // never causes the payload that follows it to be copied.
        const take = Math.min(this.#dataLeft, end - offset);
        this.#dataLeft -= take;
        const piece = offset === 0 && take === end ? chunk : chunk.subarray(offset, offset + take);
        offset += take;
        const frameEnd = this.#dataLeft === 0;
        if (this.#streamId === NO_STREAM) this.#sink.onData(piece, frameEnd);
        else {
          const streamId = this.#streamId;
          if (frameEnd) this.#streamId = NO_STREAM;
          this.#sink.onStreamData?.(streamId, piece, frameEnd);
        }
        continue;
      }
      const need = this.#needPreamble
        ? PREAMBLE_SIZE
        : this.#controlType === NO_FRAME
          ? FRAME_HEADER_SIZE
          : this.#controlLength;
      let unit: Buffer;
      if (this.#pendingLength === 0 && end - offset >= need) {
        unit = chunk.subarray(offset, offset + need);
        offset += need;
      } else {
        if (this.#pendingLength === 0) {
          // A control payload gets its own buffer: it is handed to the sink, which may keep it.
          this.#pending = this.#controlType === NO_FRAME ? this.#headerScratch : Buffer.allocUnsafe(need);
        }
        const take = Math.min(need - this.#pendingLength, end - offset);
        chunk.copy(this.#pending, this.#pendingLength, offset, offset + take);
        this.#pendingLength += take;
        offset += take;
        if (this.#pendingLength < need) break;
        unit = this.#pending.subarray(0, need);
        this.#pending = EMPTY;
        this.#pendingLength = 0;
      }
      this.#consume(unit);
    }
    return EMPTY;
  }

  /** Handles one complete unit: the preamble, a frame header or a control payload. */
  #consume(unit: Buffer): void {
    if (this.#needPreamble) {
      checkPreamble(unit, 0);
      this.#needPreamble = false;
      return;
    }
    if (this.#controlType !== NO_FRAME) {
      const type = this.#controlType;
      this.#controlType = NO_FRAME;
      if (type === FrameType.STREAM_DATA) this.#startStreamData(unit.readUInt32BE(0));
      else this.#sink.onFrame(type, unit);
      return;
    }
    const type = unit[0] as number;
    const length = unit.readUInt32BE(1);
    // STREAM_DATA's limit applies to the bytes after its stream id, as DATA's does to all of them.
    const payload = type === FrameType.STREAM_DATA ? length - STREAM_ID_SIZE : length;
    if (payload > this.#maxFrameSize) {
      throw new MuonError(
        'MUON_ERR_FRAME_TOO_LARGE',
        `frame payload of ${payload} bytes exceeds the maximum of ${this.#maxFrameSize}`,
      );
    }
    if (type === FrameType.DATA) {
      this.#dataLeft = length;
      // An empty datagram is still a datagram: it is delivered, not skipped.
      if (length === 0) this.#sink.onData(EMPTY, true);
      return;
    }
    if (type === FrameType.STREAM_DATA) {
      if (!this.#sink.onStreamData) {
        throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'STREAM_DATA outside a multiplexed carrier');
      }
      if (length < STREAM_ID_SIZE) {
        throw new MuonError(
          'MUON_ERR_MALFORMED_FRAME',
          `STREAM_DATA frame of ${length} bytes has no stream id`,
        );
      }
      // The stream id is read as a small unit of its own; the bytes after it stream like DATA.
      this.#controlType = type;
      this.#controlLength = STREAM_ID_SIZE;
      this.#streamDataLength = length - STREAM_ID_SIZE;
      return;
    }
    if (frameTypeName(type) === undefined) {
      throw new MuonError('MUON_ERR_MALFORMED_FRAME', `unknown frame type 0x${type.toString(16)}`);
    }
    if (length > MAX_CONTROL_SIZE) {
      throw new MuonError(
        'MUON_ERR_FRAME_TOO_LARGE',
        `control frame of ${length} bytes exceeds the maximum of ${MAX_CONTROL_SIZE}`,
      );
    }
    if (length === 0) {
      // Emitted now: waiting for the next chunk would delay END or CONNECTED indefinitely.
      this.#sink.onFrame(type, EMPTY);
      return;
    }
    this.#controlType = type;
    this.#controlLength = length;
  }

  /** The stream id of a STREAM_DATA frame is read: its bytes follow (or it was empty). */
  #startStreamData(streamId: number): void {
    this.#dataLeft = this.#streamDataLength;
    if (this.#dataLeft === 0) this.#sink.onStreamData?.(streamId, EMPTY, true);
    else this.#streamId = streamId;
  }
}

function checkPreamble(buf: Buffer, offset: number): void {
  if (buf.compare(MAGIC, 0, MAGIC.length, offset, offset + MAGIC.length) !== 0) {
    throw new MuonError('MUON_ERR_BAD_MAGIC');
  }
  const version = buf[offset + MAGIC.length] as number;
  if (version !== PROTOCOL_VERSION) {
    throw new MuonError(
      'MUON_ERR_UNSUPPORTED_VERSION',
      `peer speaks protocol version ${version}, this build speaks ${PROTOCOL_VERSION}`,
    );
  }
}
