// One session's proxy channels on the server: idle channels (most recently used first), the
// visitors waiting for one, and the busy ones. It binds visitors to channels, asks the client
// for more when none is idle, times out visitors the client never sets up, reports traffic,
// and reaps channels idle too long above the client's warm minimum. A client that multiplexes
// opens carriers instead: each visitor gets a new stream on one of them at once (no round trip,
// no descriptor), and a stream ends with its session.

import type { Socket } from 'node:net';
import type { ErrorCode, MuonError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { MuxCarrier } from '../net/mux-carrier.ts';
import { MuxStream } from '../net/mux-stream.ts';
import type { StreamIdleLimits } from '../net/stream-idle-watch.ts';
import type { LicenseRecord, MappingRecord } from './directory.ts';
import type { TunnelObserver } from './observer.ts';
import { type TunnelServerOptions, tcpIdleLimits } from './options.ts';
import { type ProxyChannelOwner, rawEligible, ServerProxyChannel, type Visitor } from './proxy-channel.ts';
import type { RawSessionBudget } from './raw-session-budget.ts';
import { SessionSizes } from './session-sizes.ts';
import type { Admission } from './traffic-control.ts';
import type { UdpPeer } from './udp-peer.ts';
import { VisitorStream } from './visitor-stream.ts';

/** How long channels asked for may take to arrive before they are asked for again (at most). */
const REQUEST_EXPIRY_MS = 3000;

/** Multiplexed carriers one session may hold (a client opens one, and another while it reconnects). */
export const MAX_CARRIERS = 4;

export interface ChannelPoolContext {
  options: TunnelServerOptions;
  observer: TunnelObserver;
  logger: Logger;
  /** Idle channels kept however long they idle (the client's announced minimum). */
  minIdle: number;
  license: () => LicenseRecord;
  /** Asks the client for `count` more channels (NEED_CHANNELS). */
  requestChannels: (count: number) => void;
  /**
   * Raw sessions are granted (Features.RAW on a plain tunnel, SEALED on a TLS one): pooled
   * channels may carry them, within this budget.
   */
  raw?: RawSessionBudget;
}

export class ChannelPool implements ProxyChannelOwner {
  readonly #ctx: ChannelPoolContext;
  /** The TCP session idle timeouts, handed to every channel. */
  readonly #idleLimits: StreamIdleLimits;
  readonly #idle: ServerProxyChannel[] = [];
  readonly #busy = new Set<ServerProxyChannel>();
  readonly #waiting: Visitor[] = [];
  readonly #carriers: MuxCarrier[] = [];
  /** Channels asked for and not yet arrived. */
  #requested = 0;
  /** One per NEED_CHANNELS: when it fires, channels of that request still missing stop counting. */
  readonly #requestTimers = new Set<NodeJS.Timeout>();
  /** The client listens for NEED_CHANNELS only once it has AUTH_OK. */
  #online = false;
  #nextVisitorId = 1;
  #tick = 0;
  #closed = false;
  /** How big each mapping's sessions are: raw sessions go to big ones. */
  readonly #sizes: SessionSizes;

  constructor(ctx: ChannelPoolContext) {
    this.#ctx = ctx;
    this.#idleLimits = tcpIdleLimits(ctx.options);
    this.#sizes = new SessionSizes(ctx.options.rawSessionMinBytes);
  }

  /**
   * Pooled channels idle, sessions under way (on channels or streams; `raw`: of them, raw sessions
   * in the kernel relay or about to be), visitors waiting, carriers open.
   */
  get stats(): { idle: number; busy: number; raw: number; waiting: number; carriers: number } {
    let raw = 0;
    for (const channel of this.#busy) if (channel.raw) raw++;
    return {
      idle: this.#idle.length,
      busy: this.#busy.size,
      raw,
      waiting: this.#waiting.length,
      carriers: this.#carriers.length,
    };
  }

  /** The client is online: ask for channels for any visitor that arrived before. */
  setOnline(): void {
    this.#online = true;
    this.#askForChannels();
  }

  /** A visitor connected to one of the session's ports and was admitted (its socket is still paused). */
  accept(socket: Socket, mapping: MappingRecord, admission?: Admission): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on('error', () => {}); // a reset while waiting is handled by 'close'
    this.#enqueue(socket, mapping, admission);
  }

  /** A UDP visitor address was admitted: its session waits for a channel like a TCP visitor. */
  acceptDatagrams(peer: UdpPeer, mapping: MappingRecord, admission?: Admission): void {
    if (this.#closed) {
      peer.destroy();
      return;
    }
    this.#enqueue(peer, mapping, admission);
  }

  /**
   * An HTTP visitor's stream (from the router, admitted like a TCP visitor) waits for a channel
   * like a TCP visitor; its bytes are relayed as a socket's would be.
   */
  acceptStream(stream: VisitorStream, mapping: MappingRecord, admission?: Admission): void {
    if (this.#closed) {
      stream.destroy();
      return;
    }
    stream.on('error', () => {}); // the router's end sees the close
    this.#enqueue(stream, mapping, admission);
  }

  #enqueue(peer: Visitor['peer'], mapping: MappingRecord, admission: Admission | undefined): void {
    const visitor: Visitor = {
      id: this.#nextVisitorId,
      peer,
      mapping,
      acceptedAt: process.hrtime.bigint(),
      moved: 0,
      timer: undefined,
      ...(admission && { throttle: admission.throttle }),
    };
    this.#nextVisitorId = (this.#nextVisitorId % 0xffffffff) + 1;
    this.#ctx.observer.visitorOpened(mapping);
    visitor.timer = setTimeout(() => this.#timedOut(visitor), this.#ctx.options.connectTimeoutMs);
    // Beside a carrier, pooled channels are kept for raw sessions; everything else takes a stream.
    const raw = this.#ctx.raw;
    const stream = raw && !(raw.available && this.#rawWanted(visitor)) ? this.#openStream() : undefined;
    const channel = stream ?? this.#idle.pop() ?? this.#openStream();
    if (channel) {
      this.#bind(channel, visitor);
      return;
    }
    this.#waiting.push(visitor);
    // Each kind of peer emits 'close' once (their once() overloads differ, hence the cast).
    (peer as NodeJS.EventEmitter).once('close', () => this.#dropWaiting(visitor));
    this.#askForChannels();
  }

  /** A proxy channel of this session proved itself: serve a waiting visitor or pool it. */
  add(framed: FramedSocket): void {
    const budget = this.#ctx.raw;
    const channel = new ServerProxyChannel(framed, this, this.#idleLimits, budget && { framed, budget });
    if (this.#closed) {
      channel.destroy();
      return;
    }
    const max = this.#ctx.options.maxChannelsPerSession;
    if (this.#busy.size + this.#idle.length >= max) {
      this.#refuseChannel(framed, `at most ${max} channels per session`);
      channel.destroy();
      return;
    }
    if (this.#requested > 0) this.#requested--;
    this.#release(channel);
  }

  /** A multiplexed carrier of this session proved itself: waiting visitors get streams on it. */
  addCarrier(framed: FramedSocket): void {
    if (this.#closed || this.#carriers.length >= MAX_CARRIERS) {
      if (!this.#closed)
        this.#refuseChannel(framed, `at most ${MAX_CARRIERS} multiplexed carriers per session`);
      framed.socket.destroy();
      return;
    }
    const carrier = new MuxCarrier(framed, {
      onProtocolError: (error) => {
        this.#ctx.logger.warn({ code: error.code, err: error.message }, 'multiplexed carrier protocol error');
        framed.send({ type: 'ERROR', code: error.code, message: error.message });
        carrier.close();
      },
    });
    framed.socket.on('close', () => {
      const at = this.#carriers.indexOf(carrier);
      if (at >= 0) this.#carriers.splice(at, 1);
    });
    this.#carriers.push(carrier);
    this.#requested = 0;
    this.#serveWaiting();
  }

  /** Closes the visitors of one mapping (removed, disabled or retargeted). */
  closeVisitorsOf(mappingId: string, reason: string): void {
    for (const channel of [...this.#busy]) {
      if (channel.visitor?.mapping.id === mappingId) channel.abort('MUON_ERR_SHUTDOWN', reason);
    }
    for (const visitor of this.#waiting.filter((v) => v.mapping.id === mappingId)) {
      this.#dropWaiting(visitor);
      visitor.peer.destroy();
    }
  }

  /** Once per heartbeat interval: report traffic of long-lived visitors, reap stale idle channels. */
  tick(): void {
    this.#tick++;
    const { heartbeatIntervalMs, idleChannelTimeoutMs } = this.#ctx.options;
    this.#reportTraffic();
    // Oldest first (the bottom of the stack), keeping the client's warm minimum.
    const reapBefore = this.#tick - Math.ceil(idleChannelTimeoutMs / heartbeatIntervalMs);
    while (this.#idle.length > this.#ctx.minIdle && (this.#idle[0]?.idleSince ?? this.#tick) <= reapBefore) {
      this.#idle.shift()?.destroy();
    }
  }

  /** Closes every visitor and channel, telling busy channels' peers why. Idempotent. */
  close(code: ErrorCode, message: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#requestTimers) clearTimeout(timer);
    this.#requestTimers.clear();
    for (const visitor of [...this.#waiting]) {
      this.#dropWaiting(visitor);
      markFailed(visitor, code);
      visitor.peer.destroy();
    }
    this.#reportTraffic(); // now, while the counts are still here: the channels close later
    for (const channel of [...this.#busy, ...this.#idle]) {
      if (channel.visitor) markFailed(channel.visitor, code);
      channel.abort(code, message);
      channel.destroy();
    }
    this.#idle.length = 0;
    this.#busy.clear();
    for (const carrier of this.#carriers.splice(0)) carrier.close();
  }

  /** Reports the bytes busy channels moved since their last report. */
  #reportTraffic(): void {
    for (const channel of this.#busy) {
      const traffic = channel.takeTraffic();
      const visitor = channel.visitor;
      if (visitor && traffic && (traffic.bytesIn > 0 || traffic.bytesOut > 0)) {
        visitor.moved += traffic.bytesIn + traffic.bytesOut;
        this.#ctx.observer.traffic(this.#ctx.license(), visitor.mapping, traffic.bytesIn, traffic.bytesOut);
      }
    }
  }

  #refuseChannel(framed: FramedSocket, message: string): void {
    this.#ctx.logger.warn({ code: 'MUON_ERR_POOL_EXHAUSTED' }, `proxy channel refused: ${message}`);
    framed.send({ type: 'ERROR', code: 'MUON_ERR_POOL_EXHAUSTED', message });
  }

  /**
   * A channel on a new stream of the least busy carrier, or undefined without a carrier or at
   * the session's limit (`maxChannelsPerSession` counts streams as it counts channels).
   */
  #openStream(): ServerProxyChannel | undefined {
    if (this.#busy.size + this.#idle.length >= this.#ctx.options.maxChannelsPerSession) return undefined;
    let best: MuxCarrier | undefined;
    for (const carrier of this.#carriers) {
      if (carrier.writable && (!best || carrier.size < best.size)) best = carrier;
    }
    return best && new ServerProxyChannel(best.openStream(), this, this.#idleLimits);
  }

  #serveWaiting(): void {
    while (this.#waiting.length > 0) {
      const channel = this.#openStream();
      if (!channel) return;
      this.#bind(channel, this.#waiting.shift() as Visitor);
    }
  }

  #askForChannels(): void {
    if (!this.#online || this.#closed || this.#waiting.length <= this.#requested) return;
    const count = this.#waiting.length - this.#requested;
    this.#requested += count;
    this.#ctx.requestChannels(count);
    // A channel can fail on its way (refused by a handshake limit, a network error) and the
    // client does not retry on its own: forget what has not come after a while and ask again for
    // the visitors still waiting. Surplus channels from a slow answer are reaped as idle ones.
    const timer = setTimeout(() => {
      this.#requestTimers.delete(timer);
      this.#requested -= Math.min(count, this.#requested);
      this.#askForChannels();
    }, this.#requestExpiryMs());
    timer.unref();
    this.#requestTimers.add(timer);
  }

  #requestExpiryMs(): number {
    return Math.max(100, Math.min(REQUEST_EXPIRY_MS, this.#ctx.options.connectTimeoutMs / 3));
  }

  #bind(channel: ServerProxyChannel, visitor: Visitor): void {
    this.#busy.add(channel);
    channel.bind(visitor, this.#rawWanted(visitor));
  }

  /** Whether `visitor` should have a raw session, where its channel can carry one. */
  #rawWanted(visitor: Visitor): boolean {
    return this.#ctx.raw !== undefined && rawEligible(visitor) && this.#sizes.big(visitor.mapping.id);
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

  #dropWaiting(visitor: Visitor): void {
    const at = this.#waiting.indexOf(visitor);
    if (at < 0) return;
    this.#waiting.splice(at, 1);
    // Forget requests beyond those still waiting, in case some channels never arrive.
    this.#requested = Math.min(this.#requested, this.#waiting.length);
    clearTimeout(visitor.timer);
    this.#ctx.observer.visitorClosed(visitor.mapping);
  }

  #timedOut(visitor: Visitor): void {
    visitor.timer = undefined;
    markFailed(visitor, 'MUON_ERR_CONNECT_TIMEOUT');
    this.#refused(visitor, 'MUON_ERR_CONNECT_TIMEOUT');
    const message = `no answer from the client within ${this.#ctx.options.connectTimeoutMs} ms`;
    this.#ctx.logger.warn(
      { code: 'MUON_ERR_CONNECT_TIMEOUT', port: visitor.mapping.publicPort, visitor: visitor.id },
      message,
    );
    if (this.#waiting.includes(visitor)) {
      this.#dropWaiting(visitor);
      visitor.peer.destroy();
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

  /** The visitor never reached its target, for the reason `code` names. */
  #refused(visitor: Visitor, code: ErrorCode): void {
    this.#ctx.observer.visitorRefused(code, visitor.mapping.protocol, visitor.mapping.publicPort);
  }

  // ProxyChannelOwner
  channelDone(channel: ServerProxyChannel, reusable: boolean): void {
    this.#busy.delete(channel);
    if (channel.framed instanceof MuxStream) {
      channel.framed.release(reusable);
      if (!this.#closed) this.#serveWaiting();
    } else if (reusable && !this.#closed) this.#release(channel);
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
    this.#sizes.record(visitor.mapping.id, visitor.moved + bytesIn + bytesOut);
    if (bytesIn > 0 || bytesOut > 0) {
      this.#ctx.observer.traffic(this.#ctx.license(), visitor.mapping, bytesIn, bytesOut);
    }
    this.#ctx.observer.visitorClosed(visitor.mapping);
  }

  visitorFailed(visitor: Visitor, code: ErrorCode, message: string): void {
    clearTimeout(visitor.timer);
    visitor.timer = undefined;
    markFailed(visitor, code);
    this.#refused(visitor, code);
    this.#ctx.logger.warn(
      { code, port: visitor.mapping.publicPort, visitor: visitor.id },
      `visitor closed: ${message}`,
    );
  }

  visitorIdledOut(visitor: Visitor, timeoutMs: number): void {
    markFailed(visitor, 'MUON_ERR_IDLE_TIMEOUT'); // an HTTP visitor's page says so
    // Routine (a visitor that left half-closed, or an idle session by configuration): debug only.
    this.#ctx.logger.debug(
      { code: 'MUON_ERR_IDLE_TIMEOUT', port: visitor.mapping.publicPort, visitor: visitor.id },
      `visitor closed: no byte in either direction for ${timeoutMs} ms`,
    );
  }

  protocolError(channel: ServerProxyChannel, error: MuonError): void {
    this.#ctx.logger.warn({ code: error.code, err: error.message }, 'proxy channel protocol error');
    channel.framed.send({ type: 'ERROR', code: error.code, message: error.message });
    channel.destroy();
  }
}

/** Tells an HTTP visitor's stream why the tunnel gave up on it (the router shows it on its page). */
function markFailed(visitor: Visitor, code: ErrorCode): void {
  if (visitor.peer instanceof VisitorStream) visitor.peer.fail(code);
}
