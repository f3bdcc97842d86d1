// One authenticated client on the server: its command channel, heartbeat, public ports (TCP and
// UDP) and channel pool (channel-pool.ts). close() ends all of it, idempotently.

import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { Liveness } from '../net/liveness.ts';
import { rawFeature } from '../net/raw-transport.ts';
import { Features, type MappingInfo, type Message } from '../protocol/messages.ts';
import { ChannelPool } from './channel-pool.ts';
import type { LicenseRecord, MappingRecord } from './directory.ts';
import type { TunnelObserver } from './observer.ts';
import type { TunnelServerOptions } from './options.ts';
import type { PublicPorts, VisitorHandler } from './public-ports.ts';
import type { DatagramHandler, PublicUdpPorts } from './public-udp-ports.ts';
import type { RawSessionBudget } from './raw-session-budget.ts';
import { TrafficControl } from './traffic-control.ts';
import { UdpVisitors } from './udp-visitors.ts';
import { type StreamVisitor, type TunnelStream, visitorStreamPair } from './visitor-stream.ts';

/** AUTH_OK lists at most this many mappings (each is at most ~262 bytes; the frame limit is 64 KiB). */
const MAX_LISTED_MAPPINGS = 200;

export interface SessionContext {
  options: TunnelServerOptions;
  observer: TunnelObserver;
  ports: PublicPorts;
  udpPorts: PublicUdpPorts;
  logger: Logger;
  /** The server's raw sessions under way, against limits.maxRawSessions. */
  rawSessions: RawSessionBudget;
  /** Called once when the session has ended, so the server can forget it. */
  onClosed(session: ClientSession, code: ErrorCode, reason: string): void;
}

/** A bound public port: TCP and UDP ports are separate namespaces, so the key is `tcp:N` or `udp:N`. */
type PortEntry =
  | { protocol: 'tcp'; mapping: MappingRecord; handler: VisitorHandler }
  | { protocol: 'udp'; mapping: MappingRecord; handler: DatagramHandler; visitors: UdpVisitors };

function portKey(mapping: MappingRecord): string {
  return `${mapping.protocol}:${mapping.publicPort}`;
}

/** What this server can do of what a client may announce. */
const SERVER_FEATURES = Features.UDP | Features.PROXY_PROTOCOL | Features.MUX;

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
  readonly #handlers = new Map<string, PortEntry>();
  /** Features bits from the client's AUTH (what it can do beyond plain TCP). */
  readonly #features: number;
  /** What AUTH_OK grants of them. */
  readonly #granted: number;
  /** Mappings already logged as needing a feature this client lacks. */
  readonly #unsupported = new Set<string>();
  readonly #pool: ChannelPool;
  readonly #traffic: TrafficControl;
  readonly #liveness: Liveness;
  readonly #heartbeat: NodeJS.Timeout;
  #closed: Promise<void> | undefined;

  constructor(
    ctx: SessionContext,
    init: {
      id: Buffer;
      key: Buffer;
      license: LicenseRecord;
      command: FramedSocket;
      minIdleChannels: number;
      features?: number;
    },
  ) {
    this.#ctx = ctx;
    this.id = init.id;
    this.idHex = init.id.toString('hex');
    this.key = init.key;
    this.#license = init.license;
    this.#command = init.command;
    this.minIdleChannels = init.minIdleChannels;
    this.#features = init.features ?? 0;
    // Raw sessions of the kind this tunnel's transport allows, if the kernel relay here can.
    const raw = ctx.options.maxRawSessions > 0 ? rawFeature(init.command.socket instanceof TLSSocket) : 0;
    this.#granted = this.#features & (SERVER_FEATURES | raw);
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
      ...(raw !== 0 && (this.#granted & raw) !== 0 && { raw: ctx.rawSessions }),
    });
    this.#traffic = new TrafficControl(this.#log, init.license, ctx.observer);
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

  /** Channels, and the public ports open: TCP in `ports`, UDP in `udpPorts` with their sessions. */
  get stats(): {
    idle: number;
    busy: number;
    raw: number;
    waiting: number;
    carriers: number;
    ports: number[];
    udpPorts: number[];
    udpSessions: number;
  } {
    const entries = [...this.#handlers.values()];
    return {
      ...this.#pool.stats,
      ports: entries.flatMap((e) => (e.protocol === 'tcp' ? [e.mapping.publicPort] : [])),
      udpPorts: entries.flatMap((e) => (e.protocol === 'udp' ? [e.mapping.publicPort] : [])),
      udpSessions: entries.reduce((n, e) => n + (e.protocol === 'udp' ? e.visitors.size : 0), 0),
    };
  }

  /** A proxy channel of this session proved itself: a multiplexed carrier if `mux` (and granted). */
  addChannel(framed: FramedSocket, mux: boolean): void {
    if (mux && (this.#granted & Features.MUX) !== 0) this.#pool.addCarrier(framed);
    else this.#pool.add(framed);
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
      features: this.#granted,
    });
    this.#pool.setOnline();
    this.#log.info(
      {
        ports: bound.filter((m) => m.protocol === 'tcp').map((m) => m.publicPort),
        udpPorts: bound.filter((m) => m.protocol === 'udp').map((m) => m.publicPort),
      },
      'client online',
    );
  }

  /**
   * Applies a changed license (same key): opens new mappings, closes removed or disabled ones,
   * takes new limits (at once, for live connections too) and security rules (for new visitors).
   */
  async update(license: LicenseRecord): Promise<void> {
    const before = this.#license;
    this.#license = license;
    this.#traffic.apply(license);
    this.#closeStaleStreams(before, license);
    await this.#applyMappings(license.mappings);
  }

  /**
   * Opens a stream to an http/https mapping's target for one HTTP visitor, through this client's
   * proxy channels, after the mapping's security group and connection limits admit the visitor
   * (the stream then counts as one of its connections and answers to its speed limits). Throws
   * MuonError: NO_CLIENT (the mapping is not served now), ACCESS_DENIED, CONNECTION_LIMIT.
   */
  openStream(mappingId: string, visitor: StreamVisitor): TunnelStream {
    const mapping = this.#license.mappings.find((m) => m.id === mappingId && m.enabled && isHttp(m));
    if (this.closed || !mapping) {
      this.#ctx.observer.visitorRefused('MUON_ERR_NO_CLIENT', visitor.protocol, visitor.publicPort);
      throw new MuonError('MUON_ERR_NO_CLIENT', `mapping ${mappingId} is not served by the client now`);
    }
    // Its visitors are told apart from TCP ones by the shared port they came in on.
    const record: MappingRecord = { ...mapping, publicPort: visitor.publicPort };
    const admission = this.#traffic.admitAddress(visitor.remoteAddress, record);
    if (!admission) {
      const code = this.#traffic.refusalOf(visitor.remoteAddress, record);
      throw new MuonError(code, `visitor ${visitor.remoteAddress} refused by mapping ${mappingId}`);
    }
    const { tunnelEnd, handle } = visitorStreamPair(visitor);
    tunnelEnd.once('close', admission.release);
    this.#pool.acceptStream(tunnelEnd, record, admission);
    return handle;
  }

  /** Closes the streams of http/https mappings that were removed, disabled or retargeted. */
  #closeStaleStreams(before: LicenseRecord, after: LicenseRecord): void {
    for (const old of before.mappings) {
      if (!isHttp(old) || !old.enabled) continue;
      const next = after.mappings.find((m) => m.id === old.id);
      if (!next?.enabled) this.#pool.closeVisitorsOf(old.id, 'mapping removed or disabled');
      else if (!sameTarget(old, next)) this.#pool.closeVisitorsOf(old.id, 'mapping retargeted');
    }
  }

  async #applyMappings(mappings: readonly MappingRecord[]): Promise<MappingRecord[]> {
    // http and https mappings have no port of their own: the HTTP router reaches them by name.
    const usable = mappings.filter((m) => m.enabled && !isHttp(m) && this.#supports(m));
    const wanted = new Map(usable.map((m) => [portKey(m), m]));
    for (const [key, entry] of this.#handlers) {
      const next = wanted.get(key);
      if (!next) {
        this.#unbindPort(key, 'mapping removed or disabled');
        continue;
      }
      // The listener stays; visitors already on the old target are closed, new ones go to the new.
      if (next.id !== entry.mapping.id || !sameTarget(next, entry.mapping)) {
        this.#pool.closeVisitorsOf(entry.mapping.id, 'mapping retargeted');
      }
      entry.mapping = next;
    }
    const bound: MappingRecord[] = [];
    await Promise.all(
      [...wanted.entries()].map(async ([key, mapping]) => {
        if (this.#handlers.has(key)) {
          bound.push(mapping);
          return;
        }
        const entry = this.#entryFor(mapping);
        this.#handlers.set(key, entry);
        try {
          if (entry.protocol === 'udp') await this.#ctx.udpPorts.bind(mapping.publicPort, entry.handler);
          else await this.#ctx.ports.bind(mapping.publicPort, entry.handler);
          if (this.closed) return;
          bound.push(mapping);
        } catch (error) {
          this.#handlers.delete(key);
          const code = error instanceof MuonError ? error.code : 'MUON_ERR_INTERNAL';
          this.#log.error(
            { code, port: mapping.publicPort, protocol: mapping.protocol, err: (error as Error).message },
            'cannot open public port',
          );
        }
      }),
    );
    return bound.sort((a, b) => a.publicPort - b.publicPort || a.protocol.localeCompare(b.protocol));
  }

  /** A port entry routing `mapping`'s visitors (read through the entry, which edits update). */
  #entryFor(mapping: MappingRecord): PortEntry {
    if (mapping.protocol !== 'udp') {
      const entry: PortEntry = {
        protocol: 'tcp',
        mapping,
        handler: (visitor: Socket) => this.#accept(visitor, entry.mapping),
      };
      return entry;
    }
    const visitors = new UdpVisitors({
      mapping: () => entry.mapping,
      admit: (remote, current) => {
        if (!this.closed) return this.#traffic.admitAddress(remote, current);
        this.#ctx.observer.visitorRefused('MUON_ERR_NO_CLIENT', 'udp', current.publicPort);
        return undefined;
      },
      accept: (peer, current, admission) => this.#pool.acceptDatagrams(peer, current, admission),
      send: (datagram, address, port) => this.#ctx.udpPorts.send(mapping.publicPort, datagram, address, port),
      idleTimeoutMs: this.#ctx.options.udpIdleTimeoutMs,
    });
    const entry: PortEntry = { protocol: 'udp', mapping, handler: visitors.onDatagram, visitors };
    return entry;
  }

  /** Whether the client announced the features `mapping` needs; if not, says so once. */
  #supports(mapping: MappingRecord): boolean {
    const needs =
      (mapping.protocol === 'udp' ? Features.UDP : 0) |
      (mapping.protocol === 'tcp' && mapping.proxyProtocol ? Features.PROXY_PROTOCOL : 0);
    if ((this.#features & needs) === needs) return true;
    if (!this.#unsupported.has(mapping.id)) {
      this.#unsupported.add(mapping.id);
      this.#log.warn(
        { code: 'MUON_ERR_CLIENT_UNSUPPORTED', mapping: mapping.id, port: mapping.publicPort },
        `the client cannot serve this ${mapping.protocol === 'udp' ? 'UDP mapping' : 'PROXY protocol mapping'}; its port stays closed`,
      );
    }
    return false;
  }

  #accept(visitor: Socket, mapping: MappingRecord): void {
    if (this.closed) {
      // Arrived while the session ends, before its port is closed: its client is gone.
      this.#ctx.observer.visitorRefused('MUON_ERR_NO_CLIENT', 'tcp', mapping.publicPort);
      visitor.destroy();
      return;
    }
    const admission = this.#traffic.admit(visitor, mapping);
    if (admission) this.#pool.accept(visitor, mapping, admission);
  }

  #unbindPort(key: string, reason: string): void {
    const entry = this.#handlers.get(key);
    if (!entry) return;
    this.#handlers.delete(key);
    const port = entry.mapping.publicPort;
    if (entry.protocol === 'udp') this.#ctx.udpPorts.unbind(port, entry.handler);
    else this.#ctx.ports.unbind(port, entry.handler);
    this.#pool.closeVisitorsOf(entry.mapping.id, reason);
    if (entry.protocol === 'udp') entry.visitors.close();
    this.#log.info({ port, protocol: entry.protocol, reason }, 'public port closed');
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
    for (const key of [...this.#handlers.keys()]) this.#unbindPort(key, message);
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

function isHttp(m: MappingRecord): boolean {
  return m.protocol === 'http' || m.protocol === 'https';
}

function toInfo(m: MappingRecord): MappingInfo {
  return {
    protocol: m.protocol === 'udp' ? 'udp' : 'tcp', // only port mappings are listed
    publicPort: m.publicPort,
    targetHost: m.targetHost,
    targetPort: m.targetPort,
  };
}

function sameTarget(a: MappingRecord, b: MappingRecord): boolean {
  return a.targetHost === b.targetHost && a.targetPort === b.targetPort && a.protocol === b.protocol;
}
