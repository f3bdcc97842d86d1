// Relays one session between a local socket (a visitor on the server, a target on the client)
// and a proxy channel. Backpressure both ways (a full writer pauses the reader), half-close
// forwarded as END, aborts as DISCONNECT. When each side has sent and received its terminator
// the channel is clean and `onDone(true)` hands it back for reuse. Optional throttles apply
// speed limits by pausing the reading side, on top of (never instead of) backpressure. An abort
// that cannot reach the peer in-band (stuck behind data it does not read) drops the channel.
// On the server, once the target is connected, a StreamIdleWatch ends a session that stays quiet
// (no byte either way) for its idle or half-closed timeout with MUON_ERR_IDLE_TIMEOUT.

import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';
import type { ChannelPort } from './channel-port.ts';
import type { Throttle } from './rate-limit.ts';
import { ReadYield } from './read-yield.ts';
import { type RecentActivity, sessionActivity } from './recent-activity.ts';
import { type StreamIdleLimits, StreamIdleWatch } from './stream-idle-watch.ts';

/**
 * How long an abort waits for the peer's terminator. A peer that has paused the channel (its own
 * local side does not read) never reads our DISCONNECT: past this the channel is dropped instead.
 */
export const ABORT_ANSWER_MS = 1000;

/**
 * How often a paused socket is probed with a write. A paused socket notices neither FIN nor RST:
 * only a write tells whether its peer went away meanwhile. A channel paused while our local side
 * does not read gets an empty DATA frame; a local socket paused while the channel is full gets a
 * zero-length write, which is enough to surface a reset.
 */
export const PROBE_INTERVAL_MS = 250;

const EMPTY = Buffer.alloc(0);

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
  /** The process's sessions moving data (tests give their own): a fast local socket yields to them. */
  sessions?: RecentActivity;
}

export class Relay {
  /** A visitor's or target's socket, or the tunnel's end of an HTTP visitor's stream. */
  readonly #local: Duplex;
  readonly #channel: ChannelPort;
  readonly #options: RelayOptions;
  #sentTerminator = false;
  #receivedTerminator = false;
  #aborted = false;
  #finished = false;
  #localError: Error | undefined;
  // Running totals (the idle watch compares them), and what takeBytes() has reported of them.
  #bytesFromLocal = 0;
  #bytesToLocal = 0;
  #takenFromLocal = 0;
  #takenToLocal = 0;
  #idleWatch: StreamIdleWatch | undefined;
  // Each reader is paused while its writer is full (blocked) or its throttle is in debt (wait);
  // it resumes only when neither holds it.
  #localBlocked = false;
  #channelBlocked = false;
  readonly #fromLocalThrottle: Throttle | undefined;
  readonly #toLocalThrottle: Throttle | undefined;
  #localWait: (() => void) | undefined;
  #channelWait: (() => void) | undefined;
  /** A fast local socket gives the event loop back every so often (see ReadYield). */
  readonly #localYield: ReadYield;
  readonly #sessions: RecentActivity;
  /** Runs while the channel or the local socket is paused by backpressure (see PROBE_INTERVAL_MS). */
  #probe: NodeJS.Timeout | undefined;
  /** Runs from our DISCONNECT until the peer's terminator (see ABORT_ANSWER_MS). */
  #answerTimer: NodeJS.Timeout | undefined;
  readonly #resumeLocal = () => {
    this.#localBlocked = false;
    if (this.#localWait === undefined && !this.#localYield.yielding) this.#local.resume();
  };
  readonly #resumeChannel = () => {
    this.#channelBlocked = false;
    if (this.#channelWait === undefined) this.#channel.socket.resume();
  };
  readonly #localPaid = () => {
    this.#localWait = undefined;
    if (!this.#localBlocked && !this.#localYield.yielding) this.#local.resume();
  };
  readonly #channelPaid = () => {
    this.#channelWait = undefined;
    if (!this.#channelBlocked) this.#channel.socket.resume();
  };
  readonly #onProbe = () => {
    this.#probe = undefined;
    if (this.#finished) return;
    let again = false;
    // A write already queued polls the socket as well as a probe would. After our terminator we
    // may send no DATA (the peer's own bound has to do), and a target still being dialled has
    // not been answered with CONNECTED, which DATA must not precede.
    if (this.#channelBlocked && !this.#sentTerminator) {
      again = true;
      const local = this.#local as { connecting?: boolean };
      if (this.#channel.socket.writableLength === 0 && local.connecting !== true)
        this.#channel.sendData(EMPTY);
    }
    if (this.#localBlocked && this.#local.writable) {
      again = true;
      if (this.#local.writableLength === 0) this.#local.write(EMPTY);
    }
    if (again) this.#probe = setTimeout(this.#onProbe, PROBE_INTERVAL_MS);
  };
  readonly #giveUp = () => {
    this.#answerTimer = undefined;
    if (this.#finished) return;
    this.#local.destroy();
    this.#finish(false);
  };

  constructor(local: Duplex, channel: ChannelPort, options: RelayOptions) {
    this.#local = local;
    this.#channel = channel;
    this.#options = options;
    this.#fromLocalThrottle = options.throttle?.fromLocal;
    this.#toLocalThrottle = options.throttle?.toLocal;
    this.#sessions = options.sessions ?? sessionActivity;
    this.#localYield = new ReadYield(local, {
      heldElsewhere: () => this.#localBlocked || this.#localWait !== undefined,
      othersWaiting: () => this.#sessions.othersActive(this),
    });
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
    const taken = {
      fromLocal: this.#bytesFromLocal - this.#takenFromLocal,
      toLocal: this.#bytesToLocal - this.#takenToLocal,
    };
    this.#takenFromLocal = this.#bytesFromLocal;
    this.#takenToLocal = this.#bytesToLocal;
    return taken;
  }

  /**
   * Ends the session with MUON_ERR_IDLE_TIMEOUT once no byte has moved either way for
   * `limits.idleMs`, or for `limits.halfClosedMs` after either side half-closed. The server calls
   * it when the target is connected (before, its connect timeout applies); `onTimeout` runs just
   * before the session is ended, with the timeout that was exceeded.
   */
  watchIdle(limits: StreamIdleLimits, onTimeout?: (timeoutMs: number) => void): void {
    if (this.#finished || this.#aborted || this.#idleWatch) return;
    const halfClosed = this.#sentTerminator || this.#receivedTerminator;
    this.#idleWatch = new StreamIdleWatch(
      limits,
      halfClosed,
      () => this.#bytesFromLocal + this.#bytesToLocal,
      (timeoutMs) => {
        onTimeout?.(timeoutMs);
        this.#idledOut(timeoutMs);
      },
    );
  }

  /** We have sent END or DISCONNECT: a DISCONNECT from the peer now is only its answer. */
  get terminatorSent(): boolean {
    return this.#sentTerminator;
  }

  #fromLocal(chunk: Buffer): void {
    if (this.#sentTerminator) return;
    this.#bytesFromLocal += chunk.length;
    this.#sessions.note(this);
    if (!this.#channel.sendData(chunk) && this.#channel.writable && !this.#localBlocked) {
      this.#localBlocked = true;
      this.#local.pause();
      this.#channel.socket.once('drain', this.#resumeLocal);
      this.#probe ??= setTimeout(this.#onProbe, PROBE_INTERVAL_MS);
    }
    const throttle = this.#fromLocalThrottle;
    if (throttle?.active && !throttle.take(chunk.length) && !this.#localWait) {
      this.#local.pause();
      this.#localWait = throttle.wait(this.#localPaid);
    }
    this.#localYield.read(chunk.length);
  }

  #localEnded(): void {
    if (this.#sentTerminator) return;
    this.#stopLocalWait();
    this.#sentTerminator = true;
    this.#channel.send({ type: 'END' });
    this.#idleWatch?.halfClosed();
    this.#maybeDone();
  }

  #localClosed(): void {
    if (this.#finished) return;
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
    if (piece.length > 0) this.#sessions.note(this); // empty pieces (probes) are no activity
    if (!this.#local.write(piece) && !this.#channelBlocked) {
      this.#channelBlocked = true;
      this.#channel.socket.pause();
      this.#local.once('drain', this.#resumeChannel);
      this.#probe ??= setTimeout(this.#onProbe, PROBE_INTERVAL_MS);
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
    this.#idleWatch?.halfClosed();
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

  #idledOut(timeoutMs: number): void {
    if (this.#finished || this.#aborted) return;
    if (this.#sentTerminator) {
      // Our END went first, and a DISCONNECT may not follow it; a peer that has been silent this
      // long will not end its direction by itself either. Closing the channel is the abort: the
      // peer reads it, or probes it while paused (it has not ended its direction), and closes
      // its target when it finds it gone.
      this.channelLost();
      return;
    }
    this.abort({ code: 'MUON_ERR_IDLE_TIMEOUT', message: `no byte in either direction for ${timeoutMs} ms` });
  }

  #abortLocally(failure: LocalFailure): void {
    this.#aborted = true;
    // An abort ends within ABORT_ANSWER_MS on its own: silence no longer matters.
    this.#idleWatch?.stop();
    this.#stopLocalWait();
    // The peer's answer to our DISCONNECT must be read.
    this.#releaseChannel();
    if (!this.#sentTerminator) {
      this.#sentTerminator = true;
      // Data the peer has not taken yet would hold the DISCONNECT back, for good if the peer has
      // paused the channel: closing the channel is the abort then (the peer's probe finds it).
      if (this.#channel.socket.writableLength > 0) {
        this.#finish(false);
        return;
      }
      this.#channel.send({ type: 'DISCONNECT', code: failure.code, message: failure.message });
    }
    if (!this.#receivedTerminator) this.#answerTimer ??= setTimeout(this.#giveUp, ABORT_ANSWER_MS);
    this.#maybeDone();
  }

  #maybeDone(): void {
    if (!this.#sentTerminator || !this.#receivedTerminator) return;
    // After an abort, a terminator still queued may never be read: reuse only a drained channel.
    const channel = this.#channel;
    this.#finish(channel.writable && !(this.#aborted && channel.socket.writableLength > 0));
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#localYield.stop();
    this.#idleWatch?.stop();
    this.#idleWatch = undefined;
    clearTimeout(this.#probe);
    this.#probe = undefined;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
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
