// Reads fields of one control frame's payload; any overrun is a MUON_ERR_MALFORMED_FRAME.
// Trailing bytes are allowed so later protocol minor versions can append fields.

import { MuonError } from '../errors.ts';

export class PayloadReader {
  readonly #buf: Buffer;
  #pos = 0;
  readonly #what: string;

  constructor(buf: Buffer, what: string) {
    this.#buf = buf;
    this.#what = what;
  }

  #take(n: number): number {
    const at = this.#pos;
    if (at + n > this.#buf.length) {
      throw new MuonError('MUON_ERR_MALFORMED_FRAME', `${this.#what} frame is truncated`);
    }
    this.#pos = at + n;
    return at;
  }

  /** Bytes left after the fields read so far (0: an older peer's frame ends here). */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  u8(): number {
    return this.#buf.readUInt8(this.#take(1));
  }

  u16(): number {
    return this.#buf.readUInt16BE(this.#take(2));
  }

  u32(): number {
    return this.#buf.readUInt32BE(this.#take(4));
  }

  u64(): bigint {
    return this.#buf.readBigUInt64BE(this.#take(8));
  }

  /** A copy of the next n bytes (payloads may be views into reused socket chunks). */
  bytes(n: number): Buffer {
    const at = this.#take(n);
    return Buffer.from(this.#buf.subarray(at, at + n));
  }

  str(): string {
    const n = this.u16();
    const at = this.#take(n);
    return this.#buf.toString('utf8', at, at + n);
  }
}
