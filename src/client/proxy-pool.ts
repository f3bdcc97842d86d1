// The client's pool of proxy channels for one session: keeps `minIdle` channels open and ready,
// opens more when the server asks (NEED_CHANNELS), reuses a channel after a clean session, and
// never exceeds `maxChannels`. The server reaps idle channels above the minimum.

import type { Socket } from 'node:net';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
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
}

export class ProxyPool implements ChannelOwner {
  readonly #o: PoolOptions;
  readonly #channels = new Set<ClientProxyChannel>();
  readonly #idle = new Set<ClientProxyChannel>();
  #opening = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#o = options;
  }

  get stats(): { total: number; idle: number; opening: number } {
    return { total: this.#channels.size, idle: this.#idle.size, opening: this.#opening };
  }

  /** Opens channels until `minIdle` are idle or opening. */
  fill(): void {
    const want = this.#o.minIdle - this.#idle.size - this.#opening;
    if (want > 0) this.open(want);
  }

  /** Opens up to `count` new channels (bounded by maxChannels). */
  open(count: number): void {
    const room = this.#o.maxChannels - this.#channels.size - this.#opening;
    const n = Math.min(count, room);
    if (n < count) {
      this.#o.logger.warn(
        { code: 'MUON_ERR_POOL_EXHAUSTED', max: this.#o.maxChannels },
        'proxy channel limit reached',
      );
    }
    for (let i = 0; i < n; i++) void this.#openOne();
  }

  async #openOne(): Promise<void> {
    if (this.#closed) return;
    this.#opening++;
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
      const channel = new ClientProxyChannel(framed, this, this.#o.targetConnectTimeoutMs);
      sendFirst(framed, {
        type: 'PROXY_HELLO',
        sessionId: this.#o.sessionId,
        proof: proxyProof(this.#o.sessionKey, serverNonce, this.#o.sessionId),
      });
      framed.socket.resume();
      this.#channels.add(channel);
      this.#idle.add(channel);
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
      this.#opening--;
    }
  }

  channelBusy(channel: ClientProxyChannel, _connect: MessageOf<'CONNECT'>): void {
    this.#idle.delete(channel);
    this.fill();
  }

  channelDone(channel: ClientProxyChannel, reusable: boolean): void {
    if (reusable && !this.#closed) this.#idle.add(channel);
    else channel.destroy();
  }

  channelClosed(channel: ClientProxyChannel): void {
    this.#channels.delete(channel);
    this.#idle.delete(channel);
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
    for (const channel of this.#channels) channel.destroy();
    this.#channels.clear();
    this.#idle.clear();
  }
}
