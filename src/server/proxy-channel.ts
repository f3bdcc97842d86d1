// The server's end of one proxy channel. Idle, it waits in its session's pool; bound, it carries
// one visitor's session: a TCP visitor through a Relay, a UDP one through a DatagramRelay. The
// visitor is resumed at once (its first bytes travel with CONNECT); the client answers
// CONNECTED, or DISCONNECT if it cannot reach the target. From CONNECTED on, a TCP session that
// stays quiet for its idle or half-closed timeout is ended (the client follows our abort). A raw
// session (Features.RAW or, on a TLS tunnel, SEALED: a pooled channel) keeps the visitor unread
// until CONNECTED and then hands visitor and channel to the kernel relay; the channel ends with it.

import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { ChannelPort } from '../net/channel-port.ts';
import { type ChannelRelay, DatagramRelay } from '../net/datagram-relay.ts';
import type { FramedSocket } from '../net/framed-socket.ts';
import { KernelRelay, type KernelRelayEnd } from '../net/kernel-relay.ts';
import type { Throttle } from '../net/rate-limit.ts';
import { sealedRecordError, sealOf } from '../net/raw-transport.ts';
import { Relay } from '../net/relay.ts';
import { type StreamIdleLimits, StreamIdleWatch } from '../net/stream-idle-watch.ts';
import type { Message } from '../protocol/messages.ts';
import type { MappingRecord } from './directory.ts';
import type { RawSessionBudget } from './raw-session-budget.ts';
import { UdpPeer } from './udp-peer.ts';
import type { VisitorStream } from './visitor-stream.ts';

export interface Visitor {
  id: number;
  /**
   * A TCP visitor's socket (paused until bound), a UDP visitor's session, or the tunnel's end of
   * an HTTP visitor's stream (relayed like a socket).
   */
  peer: Socket | UdpPeer | VisitorStream;
  mapping: MappingRecord;
  acceptedAt: bigint;
  /** Bytes both ways reported so far (the session's last ones come with its end). */
  moved: number;
  /** Fires if the tunnel has not set the visitor up in time. */
  timer: NodeJS.Timeout | undefined;
  /** The speed limits of the visitor's mapping and license (upload: visitor → target). */
  throttle?: { upload: Throttle; download: Throttle };
}

export interface ProxyChannelOwner {
  /** The channel finished a session (reusable) or must be dropped. */
  channelDone(channel: ServerProxyChannel, reusable: boolean): void;
  channelClosed(channel: ServerProxyChannel): void;
  visitorConnected(visitor: Visitor): void;
  visitorDone(visitor: Visitor, bytesIn: number, bytesOut: number): void;
  visitorFailed(visitor: Visitor, code: ErrorCode, message: string): void;
  /** The visitor's TCP session went quiet for `timeoutMs` and is being ended (MUON_ERR_IDLE_TIMEOUT). */
  visitorIdledOut(visitor: Visitor, timeoutMs: number): void;
  protocolError(channel: ServerProxyChannel, error: MuonError): void;
}

/**
 * Whether a visitor may have a raw session (Features.RAW): a TCP socket without speed limits (the
 * kernel relay cannot throttle) and without a PROXY header (the session's bytes go as they are).
 */
export function rawEligible(visitor: Visitor): boolean {
  const { peer, throttle, mapping } = visitor;
  return (
    peer instanceof Socket &&
    !mapping.proxyProtocol &&
    throttle?.upload.active !== true &&
    throttle?.download.active !== true
  );
}

/** What lets a pooled channel carry raw sessions. */
export interface RawCapable {
  framed: FramedSocket;
  budget: RawSessionBudget;
}

export class ServerProxyChannel {
  readonly framed: ChannelPort;
  readonly #owner: ProxyChannelOwner;
  readonly #idleLimits: StreamIdleLimits;
  /** A pooled channel of a session granted raw sessions: its FramedSocket and the server's budget. */
  readonly #rawCapable: RawCapable | undefined;
  #relay: ChannelRelay | undefined;
  #raw: RawSession | undefined;
  #visitor: Visitor | undefined;
  #connected = false;
  /** Heartbeat tick at which the channel last became idle (for reaping). */
  idleSince = 0;

  constructor(
    framed: ChannelPort,
    owner: ProxyChannelOwner,
    idleLimits: StreamIdleLimits,
    rawCapable?: RawCapable,
  ) {
    this.framed = framed;
    this.#owner = owner;
    this.#idleLimits = idleLimits;
    this.#rawCapable = rawCapable;
    framed.setHandler(this);
    framed.setProtocolErrorHandler((error) => owner.protocolError(this, error));
    framed.socket.on('close', () => {
      this.#relay?.channelLost();
      this.#raw?.channelLost();
      owner.channelClosed(this);
    });
  }

  get visitor(): Visitor | undefined {
    return this.#visitor;
  }

  /** Carrying a raw session now. */
  get raw(): boolean {
    return this.#raw !== undefined;
  }

  /**
   * Starts carrying `visitor`: CONNECT, then relay both ways; or, with `rawWanted` on a pooled
   * channel of a session granted raw sessions and within the server's budget, a raw session.
   */
  bind(visitor: Visitor, rawWanted = false): void {
    this.#visitor = visitor;
    this.#connected = false;
    const m = visitor.mapping;
    const { peer } = visitor;
    const udp = peer instanceof UdpPeer;
    const capable = this.#rawCapable;
    const raw = rawWanted && capable !== undefined && peer instanceof Socket && capable.budget.take();
    this.framed.send({
      type: 'CONNECT',
      visitorId: visitor.id,
      targetHost: m.targetHost,
      targetPort: m.targetPort,
      visitorAddress: peer.remoteAddress ?? '',
      visitorPort: peer.remotePort ?? 0,
      publicPort: m.publicPort,
      protocol: udp ? 'udp' : 'tcp',
      proxyProtocol: udp ? null : (m.proxyProtocol ?? null),
      publicAddress: udp ? '' : (peer.localAddress ?? ''),
      idleTimeoutMs: udp ? peer.idleTimeoutMs : 0,
      ...(raw && { raw: true }),
    });
    if (raw) {
      this.#raw = new RawSession(visitor.id, peer, capable.framed, this.#idleLimits, {
        idledOut: (timeoutMs) => this.#owner.visitorIdledOut(visitor, timeoutMs),
        broken: (error) => this.#owner.protocolError(this, error),
        done: (bytesIn, bytesOut) => {
          capable.budget.release();
          this.#sessionDone(visitor, bytesIn, bytesOut, false); // a raw session uses its channel up
        },
      });
      return;
    }
    const throttle = visitor.throttle;
    // The visitor is the local side: what it sends is upload, what it receives download.
    const limits = throttle && { throttle: { fromLocal: throttle.upload, toLocal: throttle.download } };
    const onDone = (reusable: boolean) => {
      const { fromLocal, toLocal } = relay.takeBytes();
      this.#sessionDone(visitor, fromLocal, toLocal, reusable);
    };
    const relay: ChannelRelay = udp
      ? new DatagramRelay(peer, this.framed, { ...limits, idleTimeoutMs: peer.idleTimeoutMs, onDone })
      : new Relay(peer, this.framed, {
          ...limits,
          describeFailure: (error) => ({
            code: 'MUON_ERR_PEER_ERROR',
            message: error
              ? `visitor connection failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`
              : 'visitor closed',
          }),
          onDone,
        });
    this.#relay = relay;
    relay.start();
  }

  /** The session is over, answered or not: the visitor's last bytes are reported, the channel freed. */
  #sessionDone(visitor: Visitor, bytesIn: number, bytesOut: number, reusable: boolean): void {
    clearTimeout(visitor.timer);
    visitor.timer = undefined;
    this.#owner.visitorDone(visitor, bytesIn, bytesOut);
    this.#relay = undefined;
    this.#raw = undefined;
    this.#visitor = undefined;
    this.#owner.channelDone(this, reusable);
  }

  /** Bytes of the current visitor since the last call (visitor → target, target → visitor). */
  takeTraffic(): { bytesIn: number; bytesOut: number } | undefined {
    if (this.#raw) return this.#raw.takeTraffic();
    if (!this.#relay) return undefined;
    const { fromLocal, toLocal } = this.#relay.takeBytes();
    return { bytesIn: fromLocal, bytesOut: toLocal };
  }

  /** Aborts the current session (timeout, policy, shutdown). */
  abort(code: ErrorCode, message: string): void {
    this.#relay?.abort({ code, message });
    this.#raw?.abort();
  }

  destroy(): void {
    this.#raw?.abort();
    this.framed.socket.destroy();
  }

  onMessage(msg: Message): void {
    const raw = this.#raw;
    if (raw && !this.#connected && this.#visitor) {
      const visitor = this.#visitor;
      if (msg.type === 'CONNECTED') {
        this.#connected = true;
        this.#owner.visitorConnected(visitor);
        raw.connected();
        return;
      }
      if (msg.type === 'DISCONNECT') {
        this.#owner.visitorFailed(visitor, msg.code, msg.message);
        raw.abort();
        return;
      }
    }
    const relay = this.#relay;
    switch (msg.type) {
      case 'CONNECTED':
        if (!relay || this.#connected || !this.#visitor) break;
        this.#connected = true;
        this.#owner.visitorConnected(this.#visitor);
        // A UDP session (DatagramRelay) keeps its own idle timer.
        if (relay instanceof Relay) {
          const visitor = this.#visitor;
          relay.watchIdle(this.#idleLimits, (timeoutMs) => this.#owner.visitorIdledOut(visitor, timeoutMs));
        }
        return;
      case 'END':
        if (!relay) break;
        relay.end();
        return;
      case 'DISCONNECT':
        if (!relay) break;
        if (!this.#connected && this.#visitor && !relay.terminatorSent) {
          this.#owner.visitorFailed(this.#visitor, msg.code, msg.message);
        }
        relay.disconnect({ code: msg.code, message: msg.message });
        return;
      default:
        break;
    }
    this.#unexpected(msg.type);
  }

  onData(piece: Buffer, frameEnd: boolean): void {
    if (this.#relay) this.#relay.data(piece, frameEnd);
    else this.#unexpected('DATA');
  }

  #unexpected(type: string): void {
    this.#owner.protocolError(this, unexpectedFrame(type, this.#relay ? 'busy' : 'idle'));
  }
}

interface RawSessionOwner {
  idledOut(timeoutMs: number): void;
  /** The sealed channel's records were not sound (the session is reset, and done follows). */
  broken(error: MuonError): void;
  /** Called once, when the session is over (the visitor and the channel are closed). */
  done(bytesIn: number, bytesOut: number): void;
}

/**
 * A raw session on the server (Features.RAW): CONNECT is out, and the visitor's socket stays
 * unread until CONNECTED; then the channel stops decoding, the target's first bytes that came in
 * the same read are written to the visitor, and visitor and channel go to the kernel relay. On a
 * TLS channel (Features.SEALED) the client sends nothing after CONNECTED until our START, so
 * nothing may follow it; the relay seals, with START first.
 */
class RawSession {
  readonly #visitorId: number;
  readonly #visitor: Socket;
  readonly #framed: FramedSocket;
  readonly #idleLimits: StreamIdleLimits;
  readonly #owner: RawSessionOwner;
  #kernel: KernelRelay | undefined;
  #idleWatch: StreamIdleWatch | undefined;
  /** What takeTraffic() has reported so far. */
  #taken: [number, number] = [0, 0];
  #finished = false;

  constructor(
    visitorId: number,
    socket: Socket,
    framed: FramedSocket,
    idleLimits: StreamIdleLimits,
    owner: RawSessionOwner,
  ) {
    this.#visitorId = visitorId;
    this.#visitor = socket;
    this.#framed = framed;
    this.#idleLimits = idleLimits;
    this.#owner = owner;
  }

  /** CONNECTED arrived (it is being handled now). */
  connected(): void {
    this.#framed.detach((rest) => {
      if (this.#finished) return;
      if (rest.length === 0) this.#start();
      else if (this.#framed.socket instanceof TLSSocket) this.abort();
      else this.#visitor.write(rest, () => this.#start());
    });
  }

  #start(): void {
    if (this.#finished) return;
    const channel = this.#framed.socket;
    if (this.#visitor.destroyed || channel.destroyed) {
      this.abort();
      return;
    }
    const moved = (): number => {
      const [up, down] = this.#kernel?.bytes() ?? [0, 0];
      return up + down;
    };
    const seal = channel instanceof TLSSocket ? sealOf(channel, this.#visitorId, 'server') : undefined;
    const onEnd = (end: KernelRelayEnd): void => {
      const broken = seal && sealedRecordError(end);
      if (broken) this.#owner.broken(broken);
      this.#finish(end.aToB, end.bToA);
    };
    this.#kernel = new KernelRelay(this.#visitor, channel, onEnd, {
      onHalfClose: () => this.#idleWatch?.halfClosed(),
      ...(seal && { seal }),
    });
    this.#idleWatch = new StreamIdleWatch(this.#idleLimits, false, moved, (timeoutMs) => {
      this.#owner.idledOut(timeoutMs);
      this.#kernel?.close();
    });
  }

  takeTraffic(): { bytesIn: number; bytesOut: number } {
    const [up, down] = this.#kernel?.bytes() ?? [0, 0];
    const traffic = { bytesIn: up - this.#taken[0], bytesOut: down - this.#taken[1] };
    this.#taken = [up, down];
    return traffic;
  }

  /** Ends the session: before the kernel relay, by closing visitor and channel; after, through it. */
  abort(): void {
    if (this.#finished) return;
    if (this.#kernel) {
      this.#kernel.close();
      return;
    }
    this.#visitor.destroy();
    this.#framed.socket.destroy();
    this.#finish(0, 0);
  }

  /** The channel closed: before the kernel relay that ends the session (after, the relay sees it). */
  channelLost(): void {
    if (!this.#kernel) this.abort();
  }

  #finish(up: number, down: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#idleWatch?.stop();
    this.#owner.done(up - this.#taken[0], down - this.#taken[1]);
  }
}

function unexpectedFrame(type: string, state: string): MuonError {
  return new MuonError('MUON_ERR_UNEXPECTED_FRAME', `${type} is not allowed on a ${state} proxy channel`);
}
