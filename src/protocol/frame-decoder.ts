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
} from './frame-types.ts';

export interface FrameSink {
  /** A complete non-DATA frame. `payload` may be a view into a chunk: copy it to keep it. */
  onFrame(type: number, payload: Buffer): void;
  /** A piece of a DATA frame's payload, in order. One frame may arrive as several pieces. */
  onData(piece: Buffer): void;
}

export interface FrameDecoderOptions {
  maxFrameSize?: number;
  /** Expect the 5-byte preamble (magic + version) before the first frame. */
  expectPreamble?: boolean;
}

const EMPTY = Buffer.alloc(0);

export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #maxFrameSize: number;
  #needPreamble: boolean;
  /** Bytes of a header or control payload that straddle chunks. */
  #pending: Buffer = EMPTY;
  /** DATA payload bytes still to come for the current frame. */
  #dataLeft = 0;
  #failed = false;

  constructor(sink: FrameSink, options: FrameDecoderOptions = {}) {
    this.#sink = sink;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#needPreamble = options.expectPreamble ?? false;
  }

  /** Bytes held back waiting for the rest of a header or control frame. */
  get bufferedBytes(): number {
    return this.#pending.length;
  }

  /** Feeds one chunk. Throws MuonError on malformed input; the decoder is unusable after that. */
  push(chunk: Buffer): void {
    if (this.#failed) throw new MuonError('MUON_ERR_MALFORMED_FRAME', 'decoder used after an error');
    try {
      this.#push(chunk);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  #push(chunk: Buffer): void {
    let buf = chunk;
    let offset = 0;
    if (this.#pending.length > 0) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = EMPTY;
    }
    const end = buf.length;

    while (offset < end) {
      if (this.#dataLeft > 0) {
        const take = Math.min(this.#dataLeft, end - offset);
        this.#dataLeft -= take;
        const piece = offset === 0 && take === end ? buf : buf.subarray(offset, offset + take);
        offset += take;
        this.#sink.onData(piece);
        continue;
      }
      if (this.#needPreamble) {
        if (end - offset < PREAMBLE_SIZE) break;
        checkPreamble(buf, offset);
        this.#needPreamble = false;
        offset += PREAMBLE_SIZE;
        continue;
      }
      if (end - offset < FRAME_HEADER_SIZE) break;
      const type = buf[offset] as number;
      const length = buf.readUInt32BE(offset + 1);
      if (length > this.#maxFrameSize) {
        throw new MuonError(
          'MUON_ERR_FRAME_TOO_LARGE',
          `frame of ${length} bytes exceeds the maximum of ${this.#maxFrameSize}`,
        );
      }
      if (type === FrameType.DATA) {
        offset += FRAME_HEADER_SIZE;
        this.#dataLeft = length;
        continue;
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
      if (end - offset - FRAME_HEADER_SIZE < length) break;
      const start = offset + FRAME_HEADER_SIZE;
      offset = start + length;
      this.#sink.onFrame(type, buf.subarray(start, offset));
    }

    if (offset < end) {
      // Keep only the incomplete tail; copy so the caller's chunk can be reused.
      this.#pending = Buffer.from(buf.subarray(offset));
    }
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
