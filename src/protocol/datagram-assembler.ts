// Rebuilds the datagrams of a UDP session from the DATA pieces a FrameDecoder emits: each DATA
// frame is exactly one datagram, so pieces are gathered until the one that ends the frame. A
// frame larger than any UDP payload can be is refused as soon as its bytes pass the limit.

import { MuonError } from '../errors.ts';

/** The largest UDP payload over IPv4 (65,535 − 8-byte UDP header − 20-byte IP header). */
export const MAX_DATAGRAM_SIZE = 65_507;

export class DatagramAssembler {
  readonly #onDatagram: (datagram: Buffer) => void;
  #pieces: Buffer[] = [];
  #length = 0;

  constructor(onDatagram: (datagram: Buffer) => void) {
    this.#onDatagram = onDatagram;
  }

  /** Bytes held for the datagram not yet complete. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Takes one piece of a DATA frame's payload (`frameEnd` on its last). Throws
   * MUON_ERR_FRAME_TOO_LARGE, keeping nothing, once a frame exceeds MAX_DATAGRAM_SIZE.
   */
  push(piece: Buffer, frameEnd: boolean): void {
    const length = this.#length + piece.length;
    if (length > MAX_DATAGRAM_SIZE) {
      this.reset();
      throw new MuonError(
        'MUON_ERR_FRAME_TOO_LARGE',
        `a datagram of at least ${length} bytes exceeds the UDP maximum of ${MAX_DATAGRAM_SIZE}`,
      );
    }
    if (frameEnd && this.#pieces.length === 0) {
      // The usual case: the whole frame arrived in one socket read, and goes on as that view.
      this.#onDatagram(piece);
      return;
    }
    this.#pieces.push(piece);
    this.#length = length;
    if (!frameEnd) return;
    const datagram = Buffer.concat(this.#pieces, length);
    this.reset();
    this.#onDatagram(datagram);
  }

  /** Forgets a partly received datagram. */
  reset(): void {
    this.#pieces = [];
    this.#length = 0;
  }
}
