// One authenticated client on the server: its command channel, heartbeat, public ports and
// channel pool (channel-pool.ts). close() ends all of it, idempotently.

import type { Socket } from 'node:net';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { Liveness } from '../net/liveness.ts';
import type { MappingInfo, Message } from '../protocol/messages.ts';
import { ChannelPool } from './channel-pool.ts';
import type { LicenseRecord, MappingRecord } from './directory.ts';
import type { TunnelObserver } from './observer.ts';
import type { TunnelServerOptions } from './options.ts';
import type { PublicPorts, VisitorHandler } from './public-ports.ts';
import { TrafficControl } from './traffic-control.ts';

/** AUTH_OK lists at most this many mappings (each is at most ~262 bytes; the frame limit is 64 KiB). */
const MAX_LISTED_MAPPINGS = 200;

export interface SessionContext {
  options: TunnelServerOptions;
  observer: TunnelObserver;
  ports: PublicPorts;
  logger: Logger;
  /** Called once when the session has ended, so the server can forget it. */
  onClosed(session: ClientSession, code: ErrorCode, reason: string): void;
}

export class ClientSession {
  readonly id: Buffer;
  readonly idHex: string;
  /** Key the session's proxy channels prove themselves with. */
  readonly key: Buffer;
  readonly minIdleChannels: number;
  readonly #ctx: SessionContext;
  readonly #command: FramedSocket;
  readonly #log: Logger;
  #license: LicenseRecord;
  readonly #handlers = new Map<number, { mapping: MappingRecord; handler: VisitorHandler }>();
  readonly #pool: ChannelPool;
  readonly #traffic: TrafficControl;
  readonly #liveness: Liveness;
  readonly #heartbeat: NodeJS.Timeout;
  #closed: Promise<void> | undefined;

  constructor(
    ctx: SessionContext,
    init: { id: Buffer; key: Buffer; license: LicenseRecord; command: FramedSocket; minIdleChannels: number },
  ) {
    this.#ctx = ctx;
    this.id = init.id;
    this.idHex = init.id.toString('hex');
    this.key = init.key;
    this.#license = init.license;
    this.#command = init.command;
    this.minIdleChannels = init.minIdleChannels;
    this.#log = ctx.logger.child({ license: init.license.name, session: this.idHex.slice(0, 8) });
    init.command.setHandler({
      onMessage: (msg) => this.#onCommand(msg),
      onData: () =>
        this.#protocolError(new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA on the command channel')),
    });
    init.command.setProtocolErrorHandler((error) => this.#protocolError(error));
    init.command.socket.on('close', () => void this.close('MUON_ERR_PEER_ERROR', 'command channel closed'));
    this.#pool = new ChannelPool({
      options: ctx.options,
      observer: ctx.observer,
      logger: this.#log,
      minIdle: init.minIdleChannels,
      license: () => this.#license,
      requestChannels: (count) => this.#command.send({ type: 'NEED_CHANNELS', count }),
    });
    this.#traffic = new TrafficControl(this.#log, init.license);
    this.#liveness = new Liveness(ctx.options.heartbeatIntervalMs, ctx.options.heartbeatTimeoutMs);
    this.#heartbeat = setInterval(() => this.#onTick(), ctx.options.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  get license(): LicenseRecord {
    return this.#license;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  get stats(): { idle: number; busy: number; waiting: number; ports: number[] } {
    return { ...this.#pool.stats, ports: [...this.#handlers.keys()] };
  }

  /** A proxy channel of this session proved itself. */
  addChannel(framed: FramedSocket): void {
    this.#pool.add(framed);
  }

  /** Opens the license's public ports and tells the client it is online. */
  async start(serverProof: Buffer): Promise<void> {
    const bound = await this.#applyMappings(this.#license.mappings);
    if (this.closed) return;
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.#ctx.options;
    this.#command.send({
      type: 'AUTH_OK',
      sessionId: this.id,
      serverProof,
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      // Informational for the client's log; capped so the frame stays under the control limit.
      mappings: bound.slice(0, MAX_LISTED_MAPPINGS).map(toInfo),
    });
    this.#pool.setOnline();
    this.#log.info({ ports: bound.map((m) => m.publicPort) }, 'client online');
  }

  /**
   * Applies a changed license (same key): opens new mappings, closes removed or disabled ones,
   * takes new limits (at once, for live connections too) and security rules (for new visitors).
   */
  async update(license: LicenseRecord): Promise<void> {
    this.#license = license;
    this.#traffic.apply(license);
    await this.#applyMappings(license.mappings);
  }

  async #applyMappings(mappings: readonly MappingRecord[]): Promise<MappingRecord[]> {
    const wanted = new Map(mappings.filter((m) => m.enabled).map((m) => [m.publicPort, m]));
    for (const [port, entry] of this.#handlers) {
      const next = wanted.get(port);
      if (!next) {
        this.#unbindPort(port, 'mapping removed or disabled');
        continue;
      }
      // The listener stays; visitors already on the old target are closed, new ones go to the new.
      if (!sameTarget(next, entry.mapping)) this.#pool.closeVisitorsOf(port, 'mapping retargeted');
      entry.mapping = next;
    }
    const bound: MappingRecord[] = [];
    await Promise.all(
      [...wanted.values()].map(async (mapping) => {
        const existing = this.#handlers.get(mapping.publicPort);
        if (existing) {
          bound.push(mapping);
          return;
        }
        const entry = { mapping, handler: (visitor: Socket) => this.#accept(visitor, entry.mapping) };
        this.#handlers.set(mapping.publicPort, entry);
        try {
          await this.#ctx.ports.bind(mapping.publicPort, entry.handler);
          if (this.closed) return;
          bound.push(mapping);
        } catch (error) {
          this.#handlers.delete(mapping.publicPort);
          const code = error instanceof MuonError ? error.code : 'MUON_ERR_INTERNAL';
          this.#log.error(
            { code, port: mapping.publicPort, err: (error as Error).message },
            'cannot open public port',
          );
        }
      }),
    );
    return bound.sort((a, b) => a.publicPort - b.publicPort);
  }

  #accept(visitor: Socket, mapping: MappingRecord): void {
    if (this.closed) {
      visitor.destroy();
      return;
    }
    const admission = this.#traffic.admit(visitor, mapping);
    if (admission) this.#pool.accept(visitor, mapping, admission);
  }

  #unbindPort(port: number, reason: string): void {
    const entry = this.#handlers.get(port);
    if (!entry) return;
    this.#handlers.delete(port);
    this.#ctx.ports.unbind(port, entry.handler);
    this.#pool.closeVisitorsOf(port, reason);
    this.#log.info({ port, reason }, 'public port closed');
  }

  #onCommand(msg: Message): void {
    this.#liveness.heard();
    switch (msg.type) {
      case 'PING':
        this.#command.send({ type: 'PONG', seq: msg.seq });
        return;
      case 'PONG':
        return;
      default:
        this.#protocolError(new MuonError('MUON_ERR_UNEXPECTED_FRAME', `${msg.type} on the command channel`));
    }
  }

  #protocolError(error: MuonError): void {
    this.#log.warn({ code: error.code, err: error.message }, 'command channel protocol error');
    this.#command.send({ type: 'ERROR', code: error.code, message: error.message });
    void this.close(error.code, error.message, false);
  }

  #onTick(): void {
    if (this.#liveness.tick()) {
      this.#log.warn({ code: 'MUON_ERR_HEARTBEAT_TIMEOUT' }, 'client stopped answering; closing session');
      void this.close('MUON_ERR_HEARTBEAT_TIMEOUT', 'no heartbeat from the client');
      return;
    }
    this.#pool.tick();
  }

  /** Ends the session: tells the client why, closes its ports, channels and visitors. Idempotent. */
  close(code: ErrorCode, message: string, kick = true): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = this.#doClose(code, message, kick);
    return this.#closed;
  }

  async #doClose(code: ErrorCode, message: string, kick: boolean): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const port of [...this.#handlers.keys()]) this.#unbindPort(port, message);
    this.#pool.close(code, message);
    this.#traffic.close();
    const socket = this.#command.socket;
    if (kick && !socket.destroyed) {
      this.#command.send({ type: 'KICK', code, message });
      socket.end();
      socket.setTimeout(1000, () => socket.destroy());
    } else {
      socket.destroy();
    }
    this.#log.info({ code, reason: message }, 'client session closed');
    this.#ctx.onClosed(this, code, message);
  }
}

function toInfo(m: MappingRecord): MappingInfo {
  return {
    protocol: m.protocol,
    publicPort: m.publicPort,
    targetHost: m.targetHost,
    targetPort: m.targetPort,
  };
}

function sameTarget(a: MappingRecord, b: MappingRecord): boolean {
  return a.targetHost === b.targetHost && a.targetPort === b.targetPort && a.protocol === b.protocol;
}
