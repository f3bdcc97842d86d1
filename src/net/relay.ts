// Relays one session between a local socket (a visitor on the server, a target on the client)
// and a proxy channel. Backpressure both ways (a full writer pauses the reader), half-close
// forwarded as END, aborts as DISCONNECT. When each side has sent and received its terminator
// the channel is clean and `onDone(true)` hands it back for reuse.

import type { Socket } from 'node:net';
import type { ErrorCode } from '../errors.ts';
import type { FramedSocket } from './framed-socket.ts';

export interface LocalFailure {
  code: ErrorCode;
  message: string;
}

export interface RelayOptions {
  /** Describes why the local socket failed, for the DISCONNECT sent to the peer. */
  describeFailure: (error: Error | undefined) => LocalFailure;
  /** Called once: reusable is true when the channel is clean and can carry the next session. */
  onDone: (reusable: boolean) => void;
}

export class Relay {
  readonly #local: Socket;
  readonly #channel: FramedSocket;
  readonly #options: RelayOptions;
  #sentTerminator = false;
  #receivedTerminator = false;
  #aborted = false;
  #finished = false;
  #localError: Error | undefined;
  #bytesFromLocal = 0;
  #bytesToLocal = 0;
  readonly #resumeLocal = () => this.#local.resume();
  readonly #resumeChannel = () => this.#channel.socket.resume();

  constructor(local: Socket, channel: FramedSocket, options: RelayOptions) {
    this.#local = local;
    this.#channel = channel;
    this.#options = options;
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
    if (!this.#channel.sendData(chunk) && this.#channel.writable) {
      this.#local.pause();
      this.#channel.socket.once('drain', this.#resumeLocal);
    }
  }

  #localEnded(): void {
    if (this.#sentTerminator) return;
    this.#sentTerminator = true;
    this.#channel.send({ type: 'END' });
    this.#maybeDone();
  }

  #localClosed(): void {
    if (this.#sentTerminator) return;
    const failure = this.#options.describeFailure(this.#localError);
    this.#abortLocally(failure);
  }

  /** DATA from the peer. */
  data(piece: Buffer): void {
    if (this.#aborted || this.#receivedTerminator) return;
    this.#bytesToLocal += piece.length;
    if (!this.#local.write(piece)) {
      this.#channel.socket.pause();
      this.#local.once('drain', this.#resumeChannel);
    }
  }

  /** END from the peer: half-close the local socket, keep the other direction flowing. */
  end(): void {
    if (this.#receivedTerminator) return;
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
    // Detach from the channel so the next session starts with a clean slate; bytes already
    // queued on the local socket still flush on their own.
    const channel = this.#channel.socket;
    channel.off('drain', this.#resumeLocal);
    this.#local.off('drain', this.#resumeChannel);
    if (channel.isPaused()) channel.resume();
    this.#options.onDone(reusable);
  }
}
