// One visitor of a public UDP port, by its address and port: the server's end of a UDP session.
// Until a proxy channel carries it, its datagrams wait in a bounded queue; then they go straight
// to the relay, and the relay's replies leave through the public socket to this address only.
// Emits 'start' once a channel carries it, and 'close' once, however the session ends.

import { EventEmitter } from 'node:events';
import { DatagramQueue } from '../net/datagram-queue.ts';
import type { DatagramEndpoint } from '../net/datagram-relay.ts';
import type { LocalFailure } from '../net/relay.ts';

export interface UdpPeerInit {
  remoteAddress: string;
  remotePort: number;
  /** The session's idle timeout, told to the client in CONNECT. */
  idleTimeoutMs: number;
  /** Sends a datagram to this visitor through the public port; false when it was dropped. */
  send: (datagram: Buffer) => boolean;
}

export class UdpPeer extends EventEmitter implements DatagramEndpoint {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly idleTimeoutMs: number;
  readonly #send: (datagram: Buffer) => boolean;
  readonly #pending = new DatagramQueue();
  #onDatagram: ((datagram: Buffer) => void) | undefined;
  #onClosed: ((failure: LocalFailure) => void) | undefined;
  #closed = false;

  constructor(init: UdpPeerInit) {
    super();
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.idleTimeoutMs = init.idleTimeoutMs;
    this.#send = init.send;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Datagrams dropped while waiting for a channel because the queue was full. */
  get droppedWhilePending(): number {
    return this.#pending.dropped;
  }

  /** A datagram from the visitor: on to the relay once the session runs, else held (bounded). */
  receive(datagram: Buffer): void {
    if (this.#closed) return;
    if (this.#onDatagram) this.#onDatagram(datagram);
    else this.#pending.push(datagram);
  }

  // DatagramEndpoint
  start(onDatagram: (datagram: Buffer) => void, onClosed: (failure: LocalFailure) => void): void {
    this.#onDatagram = onDatagram;
    this.#onClosed = onClosed;
    this.emit('start');
    for (const datagram of this.#pending.drain()) onDatagram(datagram);
  }

  send(datagram: Buffer): void {
    if (!this.#closed) this.#send(datagram);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onDatagram = undefined;
    this.#pending.drain();
    this.emit('close');
  }

  /** Ends the session from outside (its port closed, the client gone): the relay hears of it. */
  destroy(): void {
    const onClosed = this.#onClosed;
    if (this.#closed) return;
    this.close();
    onClosed?.({ code: 'MUON_ERR_SHUTDOWN', message: 'the UDP session was closed' });
  }
}
