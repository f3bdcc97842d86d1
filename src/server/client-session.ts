// One authenticated client on the server: its command channel, heartbeat, public ports, pool of
// idle proxy channels and the visitors waiting for one. close() ends all of it, idempotently.

import type { Socket } from 'node:net';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { Liveness } from '../net/liveness.ts';
import type { MappingInfo, Message } from '../protocol/messages.ts';
import type { LicenseRecord, MappingRecord } from './directory.ts';
import type { TunnelObserver } from './observer.ts';
import type { TunnelServerOptions } from './options.ts';
import { type ProxyChannelOwner, ServerProxyChannel, type Visitor } from './proxy-channel.ts';
import type { PublicPorts, VisitorHandler } from './public-ports.ts';

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

export class ClientSession implements ProxyChannelOwner {
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
  readonly #idle: ServerProxyChannel[] = [];
  readonly #busy = new Set<ServerProxyChannel>();
  readonly #waiting: Visitor[] = [];
  #requested = 0;
  /** AUTH_OK has been sent. */
  #online = false;
  #nextVisitorId = 1;
  #tick = 0;
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
    return {
      idle: this.#idle.length,
      busy: this.#busy.size,
      waiting: this.#waiting.length,
      ports: [...this.#handlers.keys()],
    };
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
    this.#online = true;
    this.#requestChannels();
    this.#log.info({ ports: bound.map((m) => m.publicPort) }, 'client online');
  }

  /** Applies a changed license (same key): opens new mappings, closes removed or disabled ones. */
  async update(license: LicenseRecord): Promise<void> {
    this.#license = license;
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
      if (!sameTarget(next, entry.mapping)) this.#closeVisitorsOf(port, 'mapping retargeted');
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
        const entry = { mapping, handler: (visitor: Socket) => this.#onVisitor(visitor, entry.mapping) };
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

  #unbindPort(port: number, reason: string): void {
    const entry = this.#handlers.get(port);
    if (!entry) return;
    this.#handlers.delete(port);
    this.#ctx.ports.unbind(port, entry.handler);
    this.#closeVisitorsOf(port, reason);
    this.#log.info({ port, reason }, 'public port closed');
  }

  #closeVisitorsOf(port: number, reason: string): void {
    for (const channel of [...this.#busy]) {
      if (channel.visitor?.mapping.publicPort === port) channel.abort('MUON_ERR_SHUTDOWN', reason);
    }
    for (const visitor of this.#waiting.filter((v) => v.mapping.publicPort === port)) {
      this.#dropWaiting(visitor);
      visitor.socket.destroy();
    }
  }

  #onVisitor(socket: Socket, mapping: MappingRecord): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const visitor: Visitor = {
      id: this.#nextVisitorId,
      socket,
      mapping,
      acceptedAt: process.hrtime.bigint(),
      timer: undefined,
    };
    this.#nextVisitorId = (this.#nextVisitorId % 0xffffffff) + 1;
    this.#ctx.observer.visitorOpened(mapping);
    visitor.timer = setTimeout(() => this.#visitorTimedOut(visitor), this.#ctx.options.connectTimeoutMs);
    socket.on('error', () => {}); // a reset while waiting is handled by 'close'
    const channel = this.#idle.pop();
    if (channel) {
      this.#bind(channel, visitor);
      return;
    }
    this.#waiting.push(visitor);
    socket.once('close', () => this.#dropWaiting(visitor));
    this.#requestChannels();
  }

  /** Asks the client for as many new channels as visitors wait beyond those already asked for. */
  #requestChannels(): void {
    // Before AUTH_OK (ports of a taken-over session are live already) the client is not listening yet.
    if (!this.#online || this.#waiting.length <= this.#requested) return;
    const count = this.#waiting.length - this.#requested;
    this.#requested += count;
    this.#command.send({ type: 'NEED_CHANNELS', count });
  }

  #bind(channel: ServerProxyChannel, visitor: Visitor): void {
    this.#busy.add(channel);
    channel.bind(visitor);
  }

  #dropWaiting(visitor: Visitor): void {
    const at = this.#waiting.indexOf(visitor);
    if (at < 0) return;
    this.#waiting.splice(at, 1);
    // Forget requests beyond those still waiting, in case some channels never arrive.
    this.#requested = Math.min(this.#requested, this.#waiting.length);
    clearTimeout(visitor.timer);
    this.#ctx.observer.visitorClosed(visitor.mapping);
  }

  #visitorTimedOut(visitor: Visitor): void {
    visitor.timer = undefined;
    const message = `no answer from the client within ${this.#ctx.options.connectTimeoutMs} ms`;
    this.#log.warn(
      { code: 'MUON_ERR_CONNECT_TIMEOUT', port: visitor.mapping.publicPort, visitor: visitor.id },
      message,
    );
    if (this.#waiting.includes(visitor)) {
      this.#dropWaiting(visitor);
      visitor.socket.destroy();
      return;
    }
    for (const channel of this.#busy) {
      if (channel.visitor === visitor) {
        channel.abort('MUON_ERR_CONNECT_TIMEOUT', message);
        channel.destroy(); // the client is not answering on it: do not reuse
        return;
      }
    }
  }

  /** A proxy channel of this session proved itself: serve a waiting visitor or pool it. */
  addChannel(framed: FramedSocket): void {
    const channel = new ServerProxyChannel(framed, this);
    if (this.closed) {
      channel.destroy();
      return;
    }
    if (this.#requested > 0) this.#requested--;
    this.#release(channel);
  }

  #release(channel: ServerProxyChannel): void {
    const visitor = this.#waiting.shift();
    if (visitor) {
      this.#bind(channel, visitor);
      return;
    }
    if (this.#idle.length >= this.#ctx.options.maxIdleChannels) {
      channel.destroy();
      return;
    }
    channel.idleSince = this.#tick;
    this.#idle.push(channel);
  }

  // ProxyChannelOwner
  channelDone(channel: ServerProxyChannel, reusable: boolean): void {
    this.#busy.delete(channel);
    if (reusable && !this.closed) this.#release(channel);
    else channel.destroy();
  }

  channelClosed(channel: ServerProxyChannel): void {
    this.#busy.delete(channel);
    const at = this.#idle.indexOf(channel);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  visitorConnected(visitor: Visitor): void {
    clearTimeout(visitor.timer);
    visitor.timer = undefined;
    const setupMs = Number(process.hrtime.bigint() - visitor.acceptedAt) / 1e6;
    this.#ctx.observer.visitorConnected(visitor.mapping, setupMs);
  }

  visitorDone(visitor: Visitor, bytesIn: number, bytesOut: number): void {
    if (bytesIn > 0 || bytesOut > 0)
      this.#ctx.observer.traffic(this.#license, visitor.mapping, bytesIn, bytesOut);
    this.#ctx.observer.visitorClosed(visitor.mapping);
  }

  visitorFailed(visitor: Visitor, code: ErrorCode, message: string): void {
    clearTimeout(visitor.timer);
    visitor.timer = undefined;
    this.#log.warn(
      { code, port: visitor.mapping.publicPort, visitor: visitor.id },
      `visitor closed: ${message}`,
    );
  }

  protocolError(channel: ServerProxyChannel, error: MuonError): void {
    this.#log.warn({ code: error.code, err: error.message }, 'proxy channel protocol error');
    channel.framed.send({ type: 'ERROR', code: error.code, message: error.message });
    channel.destroy();
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
    this.#tick++;
    const { heartbeatIntervalMs, idleChannelTimeoutMs } = this.#ctx.options;
    if (this.#liveness.tick()) {
      this.#log.warn({ code: 'MUON_ERR_HEARTBEAT_TIMEOUT' }, 'client stopped answering; closing session');
      void this.close('MUON_ERR_HEARTBEAT_TIMEOUT', 'no heartbeat from the client');
      return;
    }
    for (const channel of this.#busy) {
      const traffic = channel.takeTraffic();
      const visitor = channel.visitor;
      if (visitor && traffic && (traffic.bytesIn > 0 || traffic.bytesOut > 0)) {
        this.#ctx.observer.traffic(this.#license, visitor.mapping, traffic.bytesIn, traffic.bytesOut);
      }
    }
    // Reap channels idle too long, oldest first, keeping the client's warm minimum.
    const reapBefore = this.#tick - Math.ceil(idleChannelTimeoutMs / heartbeatIntervalMs);
    while (
      this.#idle.length > this.minIdleChannels &&
      (this.#idle[0]?.idleSince ?? this.#tick) <= reapBefore
    ) {
      this.#idle.shift()?.destroy();
    }
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
    for (const visitor of [...this.#waiting]) {
      this.#dropWaiting(visitor);
      visitor.socket.destroy();
    }
    for (const channel of [...this.#busy, ...this.#idle]) {
      if (channel.visitor) clearTimeout(channel.visitor.timer);
      channel.abort(code, message);
      channel.destroy();
    }
    this.#idle.length = 0;
    this.#busy.clear();
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
