// One authenticated session of the client: the command channel (heartbeats, NEED_CHANNELS,
// KICK) and the session's proxy-channel pool. `ended` resolves with the reason it ended.

import type { Socket } from 'node:net';
import { MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { Liveness } from '../net/liveness.ts';
import { rawFeature } from '../net/raw-transport.ts';
import { clientProof, keyIdOf, newNonce, sameBytes, serverProof, sessionKey } from '../protocol/handshake.ts';
import { Features, type MappingInfo, type Message } from '../protocol/messages.ts';
import { nextMessage, readChallenge, sendFirst } from './handshake.ts';
import type { TunnelClientOptions } from './options.ts';
import { ProxyPool } from './proxy-pool.ts';

export const CLIENT_VERSION = 'muon-ts/0.1.0';

export class ClientSession {
  readonly mappings: MappingInfo[];
  readonly pool: ProxyPool;
  readonly ended: Promise<MuonError>;
  readonly #command: FramedSocket;
  readonly #log: Logger;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #liveness: Liveness;
  #seq = 0n;
  #end!: (reason: MuonError) => void;
  #over = false;

  private constructor(
    command: FramedSocket,
    init: {
      mappings: MappingInfo[];
      pool: ProxyPool;
      heartbeatIntervalMs: number;
      heartbeatTimeoutMs: number;
      logger: Logger;
    },
  ) {
    this.#command = command;
    this.mappings = init.mappings;
    this.pool = init.pool;
    this.#log = init.logger;
    this.ended = new Promise((resolve) => {
      this.#end = resolve;
    });
    this.#liveness = new Liveness(init.heartbeatIntervalMs, init.heartbeatTimeoutMs);
    command.setProtocolErrorHandler((error) => {
      command.send({ type: 'ERROR', code: error.code, message: error.message });
      this.close(error);
    });
    command.socket.on('close', () =>
      this.close(new MuonError('MUON_ERR_PEER_ERROR', 'the server closed the command channel')),
    );
    command.setHandler({
      onMessage: (msg) => this.#onMessage(msg),
      onData: () => this.close(new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA on the command channel')),
    });
    this.#heartbeat = setInterval(() => this.#onTick(), init.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** Dials the server, authenticates with the license, and starts the pool. */
  static async open(options: TunnelClientOptions, dial: () => Promise<Socket>): Promise<ClientSession> {
    const socket = await dial();
    try {
      const { framed, serverNonce } = await readChallenge(socket, {
        maxFrameSize: options.maxFrameSize,
        timeoutMs: options.handshakeTimeoutMs,
      });
      const keyId = keyIdOf(options.licenseKey);
      const clientNonce = newNonce();
      sendFirst(framed, {
        type: 'AUTH',
        keyId,
        clientNonce,
        proof: clientProof(options.licenseKey, serverNonce, clientNonce, keyId),
        clientVersion: CLIENT_VERSION,
        minIdleChannels: options.minIdleChannels,
        features:
          Features.UDP |
          Features.PROXY_PROTOCOL |
          (options.mux ? Features.MUX : 0) |
          (options.raw ? rawFeature(options.tls !== false) : 0),
      });
      const reply = await nextMessage(framed, options.handshakeTimeoutMs);
      if (reply.type !== 'AUTH_OK')
        throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', `expected AUTH_OK, got ${reply.type}`);
      const expected = serverProof(options.licenseKey, serverNonce, clientNonce, reply.sessionId);
      if (!sameBytes(expected, reply.serverProof)) throw new MuonError('MUON_ERR_SERVER_AUTH_FAILED');
      const pool = new ProxyPool({
        sessionId: reply.sessionId,
        sessionKey: sessionKey(options.licenseKey, serverNonce, clientNonce, reply.sessionId),
        minIdle: options.minIdleChannels,
        maxChannels: options.maxChannels,
        maxFrameSize: options.maxFrameSize,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        targetConnectTimeoutMs: options.targetConnectTimeoutMs,
        dial,
        logger: options.logger,
        mux: options.mux && ((reply.features ?? 0) & Features.MUX) !== 0,
        raw: ((reply.features ?? 0) & (Features.RAW | Features.SEALED)) !== 0,
      });
      const session = new ClientSession(framed, {
        mappings: reply.mappings,
        pool,
        heartbeatIntervalMs: reply.heartbeatIntervalMs,
        heartbeatTimeoutMs: reply.heartbeatTimeoutMs,
        logger: options.logger,
      });
      pool.fill();
      return session;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  #onMessage(msg: Message): void {
    this.#liveness.heard();
    switch (msg.type) {
      case 'PING':
        this.#command.send({ type: 'PONG', seq: msg.seq });
        return;
      case 'PONG':
        return;
      case 'NEED_CHANNELS':
        this.pool.open(msg.count);
        return;
      case 'KICK':
      case 'ERROR':
        this.close(new MuonError(msg.code, msg.message));
        return;
      default:
        this.close(new MuonError('MUON_ERR_UNEXPECTED_FRAME', `${msg.type} on the command channel`));
    }
  }

  #onTick(): void {
    if (this.#liveness.tick()) {
      this.close(new MuonError('MUON_ERR_HEARTBEAT_TIMEOUT', 'the server stopped answering heartbeats'));
      return;
    }
    this.#seq++;
    this.#command.send({ type: 'PING', seq: this.#seq });
  }

  /** Ends the session with `reason` (idempotent): closes the command channel and every proxy channel. */
  close(reason: MuonError = new MuonError('MUON_ERR_SHUTDOWN', 'client stopped')): void {
    if (this.#over) return;
    this.#over = true;
    clearInterval(this.#heartbeat);
    this.pool.close();
    this.#command.socket.destroy();
    this.#log.debug({ code: reason.code }, 'session ended');
    this.#end(reason);
  }
}
