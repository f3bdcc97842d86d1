// The client's pool of proxy channels for one session: keeps `minIdle` channels open and ready,
// opens more when the server asks (NEED_CHANNELS), reuses a channel after a clean session, and
// never exceeds `maxChannels`. The server reaps idle channels above the minimum. When the server
// grants multiplexing, the pool instead keeps one carrier open (reopened if it drops) and every
// session arrives as a stream on it.

import type { Socket } from 'node:net';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { MuxCarrier } from '../net/mux-carrier.ts';
import { MuxStream } from '../net/mux-stream.ts';
import { isOutOfFiles, warnOutOfFiles } from '../net/out-of-files.ts';
import { proxyProof } from '../protocol/handshake.ts';
import type { MessageOf } from '../protocol/messages.ts';
import { readChallenge, sendFirst } from './handshake.ts';
import { type ChannelOwner, ClientProxyChannel } from './proxy-channel.ts';

export interface PoolOptions {
  sessionId: Buffer;
  sessionKey: Buffer;
  minIdle: number;
  maxChannels: number;
  maxFrameSize: number;
  handshakeTimeoutMs: number;
  targetConnectTimeoutMs: number;
  /** Opens a raw connection to the server's tunnel port (TLS or plain). */
  dial: () => Promise<Socket>;
  logger: Logger;
  /** Open a multiplexed carrier instead of one channel per session (the server granted MUX). */
  mux: boolean;
  /**
   * Raw sessions are granted (Features.RAW or SEALED): beside a carrier, keep `minIdle` pooled channels
   * open too, for the sessions the server sends raw (each uses its channel up).
   */
  raw?: boolean;
}

/**
 * Pooled channels (busy, idle or opening) a client keeps beside its carrier for raw sessions: the
 * raw sessions under way at once. Each costs a tunnel connection and a descriptor more per side
 * than a stream; beyond it, visitors ride the carrier (docs/architecture.md, raw sessions).
 */
export const RAW_CHANNELS_MAX = 32;

/**
 * Idle pooled channels a client keeps beside its carrier (at most; `pool.minIdle` if lower): each
 * is a tunnel connection and a descriptor on each side, for every client of a server.
 */
export const RAW_IDLE_MAX = 4;

/**
 * Beside a carrier, how long a client waits before replacing pooled channels that raw sessions
 * used up. A burst of short connections would otherwise cost a tunnel connection each (measured:
 * new connections per second 39 % lower without the wait, 7 % with it, 3 % with 500 ms); this
 * way most of a burst rides the carrier, and a transfer that starts shortly after it still finds a
 * channel (a session never moves from the carrier to a channel once it has started).
 */
export const RAW_REFILL_MS = 100;

/** Pause before reopening a carrier that closed while the session lives. */
const CARRIER_RETRY_MS = 200;

export class ProxyPool implements ChannelOwner {
  readonly #o: PoolOptions;
  readonly #channels = new Set<ClientProxyChannel>();
  readonly #idle = new Set<ClientProxyChannel>();
  #opening = 0;
  #carrierOpening = false;
  #closed = false;
  #carrier: MuxCarrier | undefined;
  #carrierRetry: NodeJS.Timeout | undefined;
  #refill: NodeJS.Timeout | undefined;

  constructor(options: PoolOptions) {
    this.#o = options;
  }

  /**
   * Pooled channels (total, idle, opening), whether a carrier is open, and the sessions under way
   * (`busy`: pooled channels carrying one, plus the carrier's streams).
   */
  get stats(): { total: number; idle: number; opening: number; carrier: boolean; busy: number } {
    const streams = this.#carrier?.size ?? 0;
    return {
      total: this.#channels.size,
      idle: this.#idle.size,
      opening: this.#opening,
      carrier: this.#carrier !== undefined,
      busy: this.#channels.size - this.#idle.size + streams,
    };
  }

  /**
   * Opens channels until `minIdle` are idle or opening (with multiplexing: the carrier, and the
   * pooled channels too when raw sessions are granted).
   */
  fill(): void {
    if (this.#o.mux) {
      if (!this.#carrier && !this.#carrierOpening) void this.#openOne(true);
      if (!this.#o.raw) return;
    }
    const idle = this.#o.mux ? Math.min(this.#o.minIdle, RAW_IDLE_MAX) : this.#o.minIdle;
    let want = idle - this.#idle.size - this.#opening;
    if (this.#o.mux) want = Math.min(want, RAW_CHANNELS_MAX - this.#channels.size - this.#opening);
    if (want > 0) this.#openPooled(want);
  }

  /**
   * Opens up to `count` new channels (bounded by maxChannels); with multiplexing, the carrier if
   * missing (and the pooled channels up to `minIdle` when raw sessions are granted).
   */
  open(count: number): void {
    if (this.#o.mux) {
      this.fill();
      return;
    }
    this.#openPooled(count);
  }

  #openPooled(count: number): void {
    const room = this.#o.maxChannels - this.#channels.size - this.#opening;
    const n = Math.min(count, room);
    if (n < count) {
      this.#o.logger.warn(
        { code: 'MUON_ERR_POOL_EXHAUSTED', max: this.#o.maxChannels },
        'proxy channel limit reached',
      );
    }
    for (let i = 0; i < n; i++) void this.#openOne(false);
  }

  async #openOne(carrier: boolean): Promise<void> {
    if (this.#closed) return;
    if (carrier) this.#carrierOpening = true;
    else this.#opening++;
    let socket: Socket | undefined;
    try {
      socket = await this.#o.dial();
      const { framed, serverNonce } = await readChallenge(socket, {
        maxFrameSize: this.#o.maxFrameSize,
        timeoutMs: this.#o.handshakeTimeoutMs,
      });
      if (this.#closed) {
        socket.destroy();
        return;
      }
      sendFirst(framed, {
        type: 'PROXY_HELLO',
        sessionId: this.#o.sessionId,
        proof: proxyProof(this.#o.sessionKey, serverNonce, this.#o.sessionId),
        mux: carrier,
      });
      if (carrier) this.#carry(framed);
      else {
        const channel = new ClientProxyChannel(framed, this, this.#o.targetConnectTimeoutMs);
        this.#channels.add(channel);
        this.#idle.add(channel);
      }
      framed.socket.resume();
    } catch (error) {
      socket?.destroy();
      if (this.#closed) return;
      if (isOutOfFiles(error)) {
        warnOutOfFiles(this.#o.logger, 'cannot open a proxy channel');
      } else {
        const code = error instanceof MuonError ? error.code : undefined;
        this.#o.logger.warn({ code, err: (error as Error).message }, 'could not open a proxy channel');
      }
    } finally {
      if (carrier) this.#carrierOpening = false;
      else this.#opening--;
    }
  }

  #carry(framed: FramedSocket): void {
    const carrier = new MuxCarrier(framed, {
      onStream: (stream) => new ClientProxyChannel(stream, this, this.#o.targetConnectTimeoutMs),
      onProtocolError: (error) => {
        this.#o.logger.warn({ code: error.code, err: error.message }, 'multiplexed carrier closed on error');
        carrier.close();
      },
    });
    this.#carrier = carrier;
    framed.socket.on('close', () => {
      if (this.#carrier === carrier) this.#carrier = undefined;
      if (this.#closed) return;
      this.#carrierRetry = setTimeout(() => this.fill(), CARRIER_RETRY_MS);
      this.#carrierRetry.unref();
    });
  }

  channelBusy(channel: ClientProxyChannel, _connect: MessageOf<'CONNECT'>): void {
    if (channel.framed instanceof MuxStream) return;
    this.#idle.delete(channel);
    this.#refillLater();
  }

  /** Refills the pool now, or beside a carrier once RAW_REFILL_MS have passed. */
  #refillLater(): void {
    if (!this.#o.mux) {
      this.fill();
      return;
    }
    if (this.#refill !== undefined || this.#closed) return;
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      this.fill();
    }, RAW_REFILL_MS);
    this.#refill.unref();
  }

  channelDone(channel: ClientProxyChannel, reusable: boolean): void {
    if (channel.framed instanceof MuxStream) channel.framed.release(reusable);
    else if (reusable && !this.#closed) this.#idle.add(channel);
    else channel.destroy();
  }

  channelClosed(channel: ClientProxyChannel): void {
    this.#channels.delete(channel);
    this.#idle.delete(channel);
    // A raw session uses its channel up: below the cap again, keep the minimum ready.
    if (this.#o.raw && !this.#closed) this.#refillLater();
  }

  targetFailed(connect: MessageOf<'CONNECT'>, code: ErrorCode, message: string): void {
    const fields = { port: connect.publicPort, visitor: connect.visitorId };
    if (code === 'MUON_ERR_OUT_OF_FILES') {
      warnOutOfFiles(this.#o.logger, `cannot dial ${connect.targetHost}:${connect.targetPort}`, fields);
    } else {
      this.#o.logger.warn({ code, ...fields }, message);
    }
  }

  protocolError(channel: ClientProxyChannel, error: MuonError): void {
    this.#o.logger.warn({ code: error.code, err: error.message }, 'proxy channel closed on error');
    channel.destroy();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#carrierRetry);
    clearTimeout(this.#refill);
    this.#carrier?.close();
    for (const channel of this.#channels) channel.destroy();
    this.#channels.clear();
    this.#idle.clear();
  }
}
