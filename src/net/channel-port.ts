// What one session's relay and proxy channel need of the channel carrying it: a proxy channel of
// its own (FramedSocket over a socket) or one stream of a multiplexed carrier (MuxStream). Flow
// control looks the same from above: writes report a full channel, 'drain' says it took them,
// pause() stops delivery, 'close' says the channel is gone.

import type { EventEmitter } from 'node:events';
import type { MuonError } from '../errors.ts';
import type { Message } from '../protocol/messages.ts';
import type { FrameHandler } from './framed-socket.ts';

export interface ChannelSocket extends EventEmitter {
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  destroy(): this;
  /** Bytes accepted by a write and not yet handed on. */
  readonly writableLength: number;
}

export interface ChannelPort {
  readonly socket: ChannelSocket;
  /** Whether a write still reaches the peer. */
  readonly writable: boolean;
  send(msg: Message): boolean;
  /** Returns false when the writer should wait for the socket's 'drain'. */
  sendData(chunk: Buffer): boolean;
  setHandler(handler: FrameHandler): void;
  setProtocolErrorHandler(onProtocolError: (error: MuonError) => void): void;
}
