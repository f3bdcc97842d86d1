// Relays one session between a local socket (a visitor on the server, a target on the client)
// and a proxy channel. Backpressure both ways (a full writer pauses the reader), half-close
// forwarded as END, aborts as DISCONNECT. When each side has sent and received its terminator
// the channel is clean and `onDone(true)` hands it back for reuse. Optional throttles apply
// speed limits by pausing the reading side, on top of (never instead of) backpressure.

import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';
import type { FramedSocket } from './framed-socket.ts';
import type { Throttle } from './rate-limit.ts';

export interface LocalFailure {
  code: ErrorCode;
  message: string;
}

export interface RelayOptions {
  /** Describes why the local socket failed, for the DISCONNECT sent to the peer. */
  describeFailure: (error: Error | undefined) => LocalFailure;
  /** Called once: reusable is true when the channel is clean and can carry the next session. */
  onDone: (reusable: boolean) => void;
  /** Speed limits: on bytes read from the local socket, and on bytes written to it. */
  throttle?: { fromLocal: Throttle; toLocal: Throttle };
}

export class Relay {
  /** A visitor's or target's socket, or the tunnel's end of an HTTP visitor's stream. */
  readonly #local: Duplex;
  readonly #channel: FramedSocket;
  readonly #options: RelayOptions;
  #sentTerminator = false;
  #receivedTerminator = false;
  #aborted = false;
  #finished = false;
  #localError: Error | undefined;
  #bytesFromLocal = 0;
  #bytesToLocal = 0;
  // Each reader is paused while its writer is full (blocked) or its throttle is in debt (wait);
  // it resumes only when neither holds it.
  #localBlocked = false;
  #channelBlocked = false;
  readonly #fromLocalThrottle: Throttle | undefined;
  readonly #toLocalThrottle: Throttle | undefined;
  #localWait: (() => void) | undefined;
  #channelWait: (() => void) | undefined;
  readonly #resumeLocal = () => {
    this.#localBlocked = false;
    if (this.#localWait === undefined) this.#local.resume();
  };
  readonly #resumeChannel = () => {
    this.#channelBlocked = false;
    if (this.#channelWait === undefined) this.#channel.socket.resume();
  };
  readonly #localPaid = () => {
    this.#localWait = undefined;
    if (!this.#localBlocked) this.#local.resume();
  };
  readonly #channelPaid = () => {
    this.#channelWait = undefined;
    if (!this.#channelBlocked) this.#channel.socket.resume();
  };

  constructor(local: Duplex, channel: FramedSocket, options: RelayOptions) {
    this.#local = local;
    this.#channel = channel;
    this.#options = options;
    this.#fromLocalThrottle = options.throttle?.fromLocal;
    this.#toLocalThrottle = options.throttle?.toLocal;
  }

  /** Starts reading the local socket (it was kept paused until now). */
  start(): void {
    const local = this.#local;
    local.on('data', (chunk: Buffer) => this.#fromLocal(chunk));
    local.on('end', () => this.#localEnded());
    local.on('error', (error) => {
      this.#localError = error;
    });
    local.on('close', () => this.#localClosed());
    local.resume();
  }

  /** Bytes moved since the last call: from the local socket to the peer, and back. */
  takeBytes(): { fromLocal: number; toLocal: number } {
    const taken = { fromLocal: this.#bytesFromLocal, toLocal: this.#bytesToLocal };
    this.#bytesFromLocal = 0;
    this.#bytesToLocal = 0;
    return taken;
  }

  /** We have sent END or DISCONNECT: a DISCONNECT from the peer now is only its answer. */
  get terminatorSent(): boolean {
    return this.#sentTerminator;
  }

  #fromLocal(chunk: Buffer): void {
    if (this.#sentTerminator) return;
    this.#bytesFromLocal += chunk.length;
    if (!this.#channel.sendData(chunk) && this.#channel.writable && !this.#localBlocked) {
      this.#localBlocked = true;
      this.#local.pause();
      this.#channel.socket.once('drain', this.#resumeLocal);
    }
    const throttle = this.#fromLocalThrottle;
    if (throttle?.active && !throttle.take(chunk.length) && !this.#localWait) {
      this.#local.pause();
      this.#localWait = throttle.wait(this.#localPaid);
    }
  }

  #localEnded(): void {
    if (this.#sentTerminator) return;
    this.#stopLocalWait();
    this.#sentTerminator = true;
    this.#channel.send({ type: 'END' });
    this.#maybeDone();
  }

  #localClosed(): void {
    if (this.#sentTerminator) {
      // It ended, then went away entirely (a reset, or an error on write) while the peer may
      // still send: those bytes have nowhere to go, and after our END we cannot ask the peer to
      // stop. Drop the channel rather than stall it on a drain that will never come.
      if (!this.#receivedTerminator && !this.#aborted) this.channelLost();
      return;
    }
    const failure = this.#options.describeFailure(this.#localError);
    this.#abortLocally(failure);
  }

  /** DATA from the peer. */
  data(piece: Buffer): void {
    if (this.#aborted || this.#receivedTerminator) return;
    this.#bytesToLocal += piece.length;
    if (!this.#local.write(piece) && !this.#channelBlocked) {
      this.#channelBlocked = true;
      this.#channel.socket.pause();
      this.#local.once('drain', this.#resumeChannel);
    }
    const throttle = this.#toLocalThrottle;
    if (throttle?.active && !throttle.take(piece.length) && !this.#channelWait) {
      this.#channel.socket.pause();
      this.#channelWait = throttle.wait(this.#channelPaid);
    }
  }

  /** END from the peer: half-close the local socket, keep the other direction flowing. */
  end(): void {
    if (this.#receivedTerminator) return;
    this.#stopChannelWait();
    this.#receivedTerminator = true;
    if (!this.#aborted) this.#local.end();
    this.#maybeDone();
  }

  /** DISCONNECT from the peer: drop the local socket and answer with our terminator. */
  disconnect(failure: LocalFailure): void {
    if (this.#receivedTerminator) return;
    this.#receivedTerminator = true;
    this.#aborted = true;
    this.#local.destroy();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      this.#channel.send({ type: 'DISCONNECT', code: failure.code, message: failure.message });
    }
    this.#maybeDone();
  }

  /** Abort from our side (timeout, shutdown, policy): DISCONNECT the peer and drop the local socket. */
  abort(failure: LocalFailure): void {
    if (this.#finished) return;
    this.#abortLocally(failure);
    this.#local.destroy();
  }

  /** The channel itself died: nothing more can be exchanged. */
  channelLost(): void {
    if (this.#finished) return;
    this.#local.destroy();
    this.#finish(false);
  }

  #abortLocally(failure: LocalFailure): void {
    this.#aborted = true;
    this.#stopLocalWait();
    // The peer's answer to our DISCONNECT must be read.
    this.#releaseChannel();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      this.#channel.send({ type: 'DISCONNECT', code: failure.code, message: failure.message });
    }
    this.#maybeDone();
  }

  #maybeDone(): void {
    if (this.#sentTerminator && this.#receivedTerminator) this.#finish(this.#channel.writable);
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#localWait?.();
    this.#localWait = undefined;
    this.#channelWait?.();
    this.#channelWait = undefined;
    // Detach from the channel so the next session starts with a clean slate; bytes already
    // queued on the local socket still flush on their own.
    const channel = this.#channel.socket;
    channel.off('drain', this.#resumeLocal);
    this.#local.off('drain', this.#resumeChannel);
    if (channel.isPaused()) channel.resume();
    this.#options.onDone(reusable);
  }

  /** The local side is done sending: a speed limit no longer holds its reader. */
  #stopLocalWait(): void {
    if (this.#localWait === undefined) return;
    this.#localWait();
    this.#localPaid();
  }

  /** Nothing more reaches the local socket: neither its full buffer nor a speed limit holds the channel. */
  #releaseChannel(): void {
    this.#stopChannelWait();
    if (this.#channelBlocked) {
      this.#local.off('drain', this.#resumeChannel);
      this.#resumeChannel();
    }
  }

  /** Nothing more will reach the local socket: a speed limit no longer holds the channel. */
  #stopChannelWait(): void {
    if (this.#channelWait === undefined) return;
    this.#channelWait();
    this.#channelPaid();
  }
}
