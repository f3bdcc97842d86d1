// The client's end of one proxy channel. Idle, it waits for CONNECT; then it dials the target
// and relays the session (DATA that arrives while dialling is queued by the socket itself and
// bounded by backpressure). CONNECTED tells the server the target answered. A TCP session may
// start with a PROXY protocol header; a UDP session gets its own UDP socket towards the target.
// A raw session (Features.RAW, or SEALED on a TLS tunnel) hands channel and target to the kernel
// relay with CONNECTED.

import { connect, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { type ErrorCode, MuonError } from '../errors.ts';
import type { ChannelPort } from '../net/channel-port.ts';
import { type ChannelRelay, DatagramRelay } from '../net/datagram-relay.ts';
import { FramedSocket } from '../net/framed-socket.ts';
import { KernelRelay } from '../net/kernel-relay.ts';
import { isOutOfFiles, openFileLimit } from '../net/out-of-files.ts';
import { encodeProxyHeader } from '../net/proxy-header.ts';
import { rawFeature, sealedRecordError, sealOf } from '../net/raw-transport.ts';
import { Relay } from '../net/relay.ts';
import type { Message, MessageOf } from '../protocol/messages.ts';
import { UdpTarget } from './udp-target.ts';

/** A UDP session's idle timeout when the server names none (a server that predates the field). */
const DEFAULT_UDP_IDLE_MS = 60_000;

export interface ChannelOwner {
  /** The channel received CONNECT and is no longer idle. */
  channelBusy(channel: ClientProxyChannel, connect: MessageOf<'CONNECT'>): void;
  /** The session ended; `reusable` when the channel is clean. */
  channelDone(channel: ClientProxyChannel, reusable: boolean): void;
  channelClosed(channel: ClientProxyChannel): void;
  /**
   * The target could not be reached: `code` is TARGET_UNREACHABLE, or OUT_OF_FILES when this
   * process had no descriptor left to dial it.
   */
  targetFailed(connect: MessageOf<'CONNECT'>, code: ErrorCode, message: string): void;
  protocolError(channel: ClientProxyChannel, error: MuonError): void;
}

export class ClientProxyChannel {
  readonly framed: ChannelPort;
  readonly #owner: ChannelOwner;
  readonly #connectTimeoutMs: number;
  #relay: ChannelRelay | undefined;
  /** A raw session's target, from CONNECT until the kernel relay is done with it. */
  #rawTarget: Socket | undefined;
  #kernel: KernelRelay | undefined;

  constructor(framed: ChannelPort, owner: ChannelOwner, connectTimeoutMs: number) {
    this.framed = framed;
    this.#owner = owner;
    this.#connectTimeoutMs = connectTimeoutMs;
    framed.setProtocolErrorHandler((error) => owner.protocolError(this, error));
    framed.socket.on('close', () => {
      this.#relay?.channelLost();
      // A raw session the server gave up before CONNECTED (after, the kernel relay sees the close).
      if (!this.#kernel) this.#rawTarget?.destroy();
      owner.channelClosed(this);
    });
    framed.setHandler(this);
  }

  get busy(): boolean {
    return this.#relay !== undefined || this.#rawTarget !== undefined;
  }

  destroy(): void {
    // A raw session's relay holds descriptors of its own: it ends only when told.
    this.#kernel?.close();
    this.framed.socket.destroy();
  }

  onMessage(msg: Message): void {
    const relay = this.#relay;
    if (msg.type === 'CONNECT' && !this.busy) this.#start(msg);
    else if (msg.type === 'END' && relay) relay.end();
    else if (msg.type === 'DISCONNECT' && relay) relay.disconnect({ code: msg.code, message: msg.message });
    else if (msg.type === 'ERROR') this.#owner.protocolError(this, new MuonError(msg.code, msg.message));
    else this.#unexpected(msg.type);
  }

  #unexpected(type: string): void {
    this.#owner.protocolError(
      this,
      new MuonError(
        'MUON_ERR_UNEXPECTED_FRAME',
        `${type} is not allowed on a ${this.busy ? 'busy' : 'idle'} proxy channel`,
      ),
    );
  }

  onData(piece: Buffer, frameEnd: boolean): void {
    if (this.#relay) this.#relay.data(piece, frameEnd);
    else
      this.#owner.protocolError(
        this,
        new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA on an idle proxy channel'),
      );
  }

  #start(msg: MessageOf<'CONNECT'>): void {
    if (
      msg.raw === true &&
      (!(this.framed instanceof FramedSocket) || rawFeature(this.framed.socket instanceof TLSSocket) === 0)
    ) {
      this.#owner.protocolError(
        this,
        new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'a raw CONNECT on a channel that cannot carry one'),
      );
      return;
    }
    this.#owner.channelBusy(this, msg);
    if (msg.protocol === 'udp') {
      this.#startUdp(msg);
      return;
    }
    if (msg.raw === true && this.framed instanceof FramedSocket) {
      this.#startRaw(msg, this.framed);
      return;
    }
    let connected = false;
    const target = this.#dialTarget(msg);
    // Written before anything else: the socket keeps writes made while connecting in order.
    if (msg.proxyProtocol) target.write(proxyHeaderFor(msg, msg.proxyProtocol));
    target.once('connect', () => {
      connected = true;
      this.framed.send({ type: 'CONNECTED' });
    });
    const relay = new Relay(target, this.framed, {
      describeFailure: (error) => {
        if (connected) {
          const reason = error ? ((error as NodeJS.ErrnoException).code ?? error.message) : 'closed';
          return { code: 'MUON_ERR_PEER_ERROR', message: `target connection failed: ${reason}` };
        }
        return this.#unreachable(msg, error);
      },
      onDone: (reusable) => {
        this.#relay = undefined;
        this.#owner.channelDone(this, reusable);
      },
    });
    this.#relay = relay;
    relay.start();
  }

  /** Dials the target of `msg`; a connection not up within the connect timeout is destroyed. */
  #dialTarget(msg: MessageOf<'CONNECT'>): Socket {
    const target = connect({
      host: msg.targetHost,
      port: msg.targetPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    target.setTimeout(this.#connectTimeoutMs, () =>
      target.destroy(new Error(`timed out after ${this.#connectTimeoutMs} ms`)),
    );
    target.once('connect', () => target.setTimeout(0));
    return target;
  }

  /** Why the target of `msg` could not be dialled, told to the owner (and said in the DISCONNECT). */
  #unreachable(msg: MessageOf<'CONNECT'>, error: Error | undefined): { code: ErrorCode; message: string } {
    const reason = error ? ((error as NodeJS.ErrnoException).code ?? error.message) : 'closed';
    // Said in the DISCONNECT too, so that the server's log names the cause, not the target.
    const code = isOutOfFiles(error) ? 'MUON_ERR_OUT_OF_FILES' : 'MUON_ERR_TARGET_UNREACHABLE';
    const cause =
      code === 'MUON_ERR_OUT_OF_FILES'
        ? ` (the client is out of file descriptors, open-file limit ${openFileLimit()})`
        : '';
    const message = `cannot reach ${msg.targetHost}:${msg.targetPort}: ${reason}${cause}`;
    this.#owner.targetFailed(msg, code, message);
    return { code, message };
  }

  /**
   * A raw session (Features.RAW): dial the target without reading it; once connected, the channel
   * stops decoding (the server sends nothing after a raw CONNECT), CONNECTED is its last frame, and
   * channel and target go to the kernel relay. On a TLS channel (Features.SEALED) the relay seals,
   * and sends nothing before the server's START: until the server has stopped reading TLS, sealed
   * bytes would reach its TLS layer. A target that cannot be reached gets DISCONNECT, and the
   * channel closes (a raw CONNECT uses it up).
   */
  #startRaw(msg: MessageOf<'CONNECT'>, framed: FramedSocket): void {
    const target = this.#dialTarget(msg);
    target.pause();
    this.#rawTarget = target;
    let connected = false;
    let failure: Error | undefined;
    target.on('error', (error) => {
      failure = error;
    });
    target.once('close', () => {
      if (connected || framed.socket.destroyed) return; // the server gave up first: nothing to say
      framed.send({ type: 'DISCONNECT', ...this.#unreachable(msg, failure) });
      framed.socket.end(); // 'close' tells the owner
    });
    target.once('connect', () => {
      connected = true;
      const channel = framed.socket;
      framed.detach((rest) => {
        const fail = () => {
          target.destroy();
          channel.destroy();
        };
        // The server sends nothing after a raw CONNECT: anything here would be a broken peer.
        if (rest.length > 0 || !framed.writable) {
          fail();
          return;
        }
        const seal = channel instanceof TLSSocket ? sealOf(channel, msg.visitorId, 'client') : undefined;
        // The relay starts once CONNECTED is written (a TLS socket may write it a little later).
        framed.send({ type: 'CONNECTED' }, (error) => {
          if (error || channel.destroyed || target.destroyed) {
            fail();
            return;
          }
          this.#kernel = new KernelRelay(
            target,
            channel,
            (end) => {
              this.#kernel = undefined;
              this.#rawTarget = undefined;
              const broken = seal && sealedRecordError(end);
              if (broken) this.#owner.protocolError(this, broken);
              this.#owner.channelDone(this, false);
            },
            { ...(seal && { seal }) },
          );
        });
      });
    });
  }

  #startUdp(msg: MessageOf<'CONNECT'>): void {
    const target = new UdpTarget({
      host: msg.targetHost,
      port: msg.targetPort,
      timeoutMs: this.#connectTimeoutMs,
      onConnected: () => this.framed.send({ type: 'CONNECTED' }),
      onFailed: (code, message) => this.#owner.targetFailed(msg, code, message),
    });
    const relay = new DatagramRelay(target, this.framed, {
      idleTimeoutMs: msg.idleTimeoutMs > 0 ? msg.idleTimeoutMs : DEFAULT_UDP_IDLE_MS,
      onDone: (reusable) => {
        this.#relay = undefined;
        this.#owner.channelDone(this, reusable);
      },
    });
    this.#relay = relay;
    relay.start();
  }
}

/** The PROXY header naming the visitor (source) and the public address it reached (destination). */
function proxyHeaderFor(msg: MessageOf<'CONNECT'>, version: 'v1' | 'v2'): Buffer {
  return encodeProxyHeader(version, {
    source: { address: msg.visitorAddress, port: msg.visitorPort },
    destination: { address: msg.publicAddress, port: msg.publicPort },
  });
}
