// Builds one control frame (header + payload) in a growing buffer; control frames are small.

import { FRAME_HEADER_SIZE, MAX_CONTROL_SIZE } from './frame-types.ts';

export class FrameWriter {
  #buf: Buffer;
  #len = FRAME_HEADER_SIZE;
  readonly #type: number;

  constructor(type: number, sizeHint = 64) {
    this.#type = type;
    this.#buf = Buffer.allocUnsafe(FRAME_HEADER_SIZE + sizeHint);
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  u8(value: number): this {
    this.#ensure(1);
    this.#buf.writeUInt8(value, this.#len);
    this.#len += 1;
    return this;
  }

  u16(value: number): this {
    this.#ensure(2);
    this.#buf.writeUInt16BE(value, this.#len);
    this.#len += 2;
    return this;
  }

  u32(value: number): this {
    this.#ensure(4);
    this.#buf.writeUInt32BE(value, this.#len);
    this.#len += 4;
    return this;
  }

  u64(value: bigint): this {
    this.#ensure(8);
    this.#buf.writeBigUInt64BE(value, this.#len);
    this.#len += 8;
    return this;
  }

  /** Raw bytes of a fixed, known length (nonces, ids, proofs). */
  bytes(value: Uint8Array): this {
    this.#ensure(value.length);
    this.#buf.set(value, this.#len);
    this.#len += value.length;
    return this;
  }

  /** UTF-8 string with a u16 byte-length prefix. */
  str(value: string): this {
    const n = Buffer.byteLength(value, 'utf8');
    if (n > 0xffff) throw new RangeError('string longer than 65535 bytes');
    this.u16(n);
    this.#ensure(n);
    this.#buf.write(value, this.#len, 'utf8');
    this.#len += n;
    return this;
  }

  /** The finished frame, header filled in. */
  finish(): Buffer {
    if (this.#len - FRAME_HEADER_SIZE > MAX_CONTROL_SIZE) {
      throw new RangeError(
        `control frame of ${this.#len - FRAME_HEADER_SIZE} bytes exceeds ${MAX_CONTROL_SIZE}`,
      );
    }
    this.#buf.writeUInt8(this.#type, 0);
    this.#buf.writeUInt32BE(this.#len - FRAME_HEADER_SIZE, 1);
    return this.#buf.subarray(0, this.#len);
  }
}
