// Relays one UDP session between a datagram endpoint (a visitor's address on a public UDP port,
// or the client's socket towards the target) and a proxy channel; each datagram travels as
// exactly one DATA frame. Nothing waits: a datagram that the channel, the endpoint or a speed
// limit cannot take now is dropped, as on a congested network. The session ends after
// `idleTimeoutMs` without a datagram either way, on a terminator from either side, or with its channel.

import { DatagramAssembler, MAX_DATAGRAM_SIZE } from '../protocol/datagram-assembler.ts';
import type { ChannelPort } from './channel-port.ts';
import { IdleTimer } from './idle-timer.ts';
import type { Throttle } from './rate-limit.ts';
import { sessionActivity } from './recent-activity.ts';
import { ABORT_ANSWER_MS, type LocalFailure } from './relay.ts';

/** What a proxy channel needs of the relay carrying its session: a stream (Relay) or datagrams. */
export interface ChannelRelay {
  readonly terminatorSent: boolean;
  start(): void;
  data(piece: Buffer, frameEnd: boolean): void;
  end(): void;
  disconnect(failure: LocalFailure): void;
  abort(failure: LocalFailure): void;
  channelLost(): void;
  takeBytes(): { fromLocal: number; toLocal: number };
}

export interface DatagramEndpoint {
  /**
   * Delivers the local side's datagrams to `onDatagram` from now on (first any held while the
   * session was set up); `onClosed` once if the endpoint fails or is ended by someone else.
   */
  start(onDatagram: (datagram: Buffer) => void, onClosed: (failure: LocalFailure) => void): void;
  /** Sends one datagram to the local side, or drops it when that side cannot take more now. */
  send(datagram: Buffer): void;
  /** Ends the local side; idempotent, and no `onClosed` follows. */
  close(): void;
}

export interface DatagramRelayOptions {
  /** The session ends after this long without a datagram in either direction. */
  idleTimeoutMs: number;
  /** Speed limits: datagrams beyond them are dropped, not delayed. */
  throttle?: { fromLocal: Throttle; toLocal: Throttle };
  /** Called once: reusable is true when the channel is clean and can carry the next session. */
  onDone: (reusable: boolean) => void;
}

/** Bytes the channel may hold unsent before datagrams from the local side are dropped. */
export const MAX_CHANNEL_BACKLOG = 256 * 1024;

export class DatagramRelay implements ChannelRelay {
  readonly #endpoint: DatagramEndpoint;
  readonly #channel: ChannelPort;
  readonly #options: DatagramRelayOptions;
  /** Throws MUON_ERR_FRAME_TOO_LARGE from data(): the channel's decoder reports it and it is dropped. */
  readonly #assembler = new DatagramAssembler((datagram) => this.#toLocal(datagram));
  #idle: IdleTimer | undefined;
  #sentTerminator = false;
  #receivedTerminator = false;
  #aborted = false;
  #finished = false;
  #bytesFromLocal = 0;
  #bytesToLocal = 0;
  #dropped = 0;
  /** Runs from our DISCONNECT until the peer's terminator: a peer that never answers costs the channel. */
  #answerTimer: NodeJS.Timeout | undefined;

  constructor(endpoint: DatagramEndpoint, channel: ChannelPort, options: DatagramRelayOptions) {
    this.#endpoint = endpoint;
    this.#channel = channel;
    this.#options = options;
  }

  start(): void {
    this.#idle = new IdleTimer(this.#options.idleTimeoutMs, () =>
      this.abort({
        code: 'MUON_ERR_IDLE_TIMEOUT',
        message: `no datagram either way for ${this.#options.idleTimeoutMs} ms`,
      }),
    );
    this.#endpoint.start(
      (datagram) => this.#fromLocal(datagram),
      (failure) => this.abort(failure),
    );
  }

  get terminatorSent(): boolean {
    return this.#sentTerminator;
  }

  /** Datagrams dropped so far (a full channel or endpoint, or a speed limit in debt). */
  get dropped(): number {
    return this.#dropped;
  }

  takeBytes(): { fromLocal: number; toLocal: number } {
    const taken = { fromLocal: this.#bytesFromLocal, toLocal: this.#bytesToLocal };
    this.#bytesFromLocal = 0;
    this.#bytesToLocal = 0;
    return taken;
  }

  #fromLocal(datagram: Buffer): void {
    if (this.#sentTerminator) return;
    this.#idle?.touch();
    sessionActivity.note(this); // a fast stream beside this session yields the loop to it
    const throttle = this.#options.throttle?.fromLocal;
    if (
      // Only IPv6 carries more (up to 65,527 bytes); the peer would refuse such a frame.
      datagram.length > MAX_DATAGRAM_SIZE ||
      (throttle?.active && throttle.inDebt()) ||
      this.#channel.socket.writableLength > MAX_CHANNEL_BACKLOG
    ) {
      this.#dropped++;
      return;
    }
    // One datagram, one frame: at most 65,507 bytes, below any frame size limit.
    this.#channel.sendData(datagram);
    this.#bytesFromLocal += datagram.length;
    if (throttle?.active) throttle.take(datagram.length);
  }

  /** A piece of DATA from the peer; `frameEnd` completes a datagram. */
  data(piece: Buffer, frameEnd: boolean): void {
    if (this.#aborted || this.#receivedTerminator) return;
    this.#assembler.push(piece, frameEnd);
  }

  #toLocal(datagram: Buffer): void {
    this.#idle?.touch();
    sessionActivity.note(this);
    const throttle = this.#options.throttle?.toLocal;
    if (throttle?.active && throttle.inDebt()) {
      this.#dropped++;
      return;
    }
    this.#endpoint.send(datagram);
    this.#bytesToLocal += datagram.length;
    if (throttle?.active) throttle.take(datagram.length);
  }

  /** END from the peer: a UDP session has no half-close, so it ends; we answer with END. */
  end(): void {
    if (this.#receivedTerminator) return;
    this.#receivedTerminator = true;
    this.#closeLocal();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      this.#channel.send({ type: 'END' });
    }
    this.#maybeDone();
  }

  /** DISCONNECT from the peer: end the local side and answer with our own. */
  disconnect(failure: LocalFailure): void {
    if (this.#receivedTerminator) return;
    this.#receivedTerminator = true;
    this.#aborted = true;
    this.#closeLocal();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      this.#channel.send({ type: 'DISCONNECT', code: failure.code, message: failure.message });
    }
    this.#maybeDone();
  }

  /** Ends the session from our side (idle, shutdown, mapping removed): DISCONNECT the peer. */
  abort(failure: LocalFailure): void {
    if (this.#finished) return;
    this.#aborted = true;
    this.#closeLocal();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      this.#channel.send({ type: 'DISCONNECT', code: failure.code, message: failure.message });
    }
    // A Muon peer never pauses a UDP session's channel, so its answer comes; another may not.
    if (!this.#receivedTerminator) {
      this.#answerTimer ??= setTimeout(() => {
        this.#answerTimer = undefined;
        this.#finish(false);
      }, ABORT_ANSWER_MS);
    }
    this.#maybeDone();
  }

  /** The channel itself died: nothing more can be exchanged. */
  channelLost(): void {
    if (this.#finished) return;
    this.#closeLocal();
    this.#finish(false);
  }

  #closeLocal(): void {
    this.#idle?.stop();
    this.#assembler.reset();
    this.#endpoint.close();
  }

  #maybeDone(): void {
    if (this.#sentTerminator && this.#receivedTerminator) this.#finish(this.#channel.writable);
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#idle?.stop();
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    this.#options.onDone(reusable);
  }
}
