// The server's end of one proxy channel. Idle, it waits in its session's pool; bound, it carries
// one visitor's session: a TCP visitor through a Relay, a UDP one through a DatagramRelay. The
// visitor is resumed at once (its first bytes travel with CONNECT); the client answers
// CONNECTED, or DISCONNECT if it cannot reach the target. From CONNECTED on, a TCP session that
// stays quiet for its idle or half-closed timeout is ended (the client follows our abort).

import type { Socket } from 'node:net';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { ChannelPort } from '../net/channel-port.ts';
import { type ChannelRelay, DatagramRelay } from '../net/datagram-relay.ts';
import type { Throttle } from '../net/rate-limit.ts';
import { Relay } from '../net/relay.ts';
import type { StreamIdleLimits } from '../net/stream-idle-watch.ts';
import type { Message } from '../protocol/messages.ts';
import type { MappingRecord } from './directory.ts';
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

export class ServerProxyChannel {
  readonly framed: ChannelPort;
  readonly #owner: ProxyChannelOwner;
  readonly #idleLimits: StreamIdleLimits;
  #relay: ChannelRelay | undefined;
  #visitor: Visitor | undefined;
  #connected = false;
  /** Heartbeat tick at which the channel last became idle (for reaping). */
  idleSince = 0;

  constructor(framed: ChannelPort, owner: ProxyChannelOwner, idleLimits: StreamIdleLimits) {
    this.framed = framed;
    this.#owner = owner;
    this.#idleLimits = idleLimits;
    framed.setHandler(this);
    framed.setProtocolErrorHandler((error) => owner.protocolError(this, error));
    framed.socket.on('close', () => {
      this.#relay?.channelLost();
      owner.channelClosed(this);
    });
  }

  get visitor(): Visitor | undefined {
    return this.#visitor;
  }

  /** Starts carrying `visitor`: CONNECT, then relay both ways. */
  bind(visitor: Visitor): void {
    this.#visitor = visitor;
    this.#connected = false;
    const m = visitor.mapping;
    const { peer } = visitor;
    const udp = peer instanceof UdpPeer;
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
    });
    const throttle = visitor.throttle;
    // The visitor is the local side: what it sends is upload, what it receives download.
    const limits = throttle && { throttle: { fromLocal: throttle.upload, toLocal: throttle.download } };
    const onDone = (reusable: boolean) => {
      clearTimeout(visitor.timer); // the session is over, answered or not
      visitor.timer = undefined;
      const { fromLocal, toLocal } = relay.takeBytes();
      this.#owner.visitorDone(visitor, fromLocal, toLocal);
      this.#relay = undefined;
      this.#visitor = undefined;
      this.#owner.channelDone(this, reusable);
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

  /** Bytes of the current visitor since the last call (visitor → target, target → visitor). */
  takeTraffic(): { bytesIn: number; bytesOut: number } | undefined {
    if (!this.#relay) return undefined;
    const { fromLocal, toLocal } = this.#relay.takeBytes();
    return { bytesIn: fromLocal, bytesOut: toLocal };
  }

  /** Aborts the current session (timeout, policy, shutdown). */
  abort(code: ErrorCode, message: string): void {
    this.#relay?.abort({ code, message });
  }

  destroy(): void {
    this.framed.socket.destroy();
  }

  onMessage(msg: Message): void {
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

function unexpectedFrame(type: string, state: string): MuonError {
  return new MuonError('MUON_ERR_UNEXPECTED_FRAME', `${type} is not allowed on a ${state} proxy channel`);
}
