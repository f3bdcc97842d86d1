// The visitors of one UDP mapping in one client session. UDP has no connections, so each visitor
// address (ip:port) gets its own session: the first datagram from an address is admitted like a
// TCP visitor (security group, connection limits) and starts a session on a proxy channel; later
// ones join it. Replies go back to that address only, never to "the last sender".

import type { RemoteInfo } from 'node:dgram';
import type { MappingRecord } from './directory.ts';
import type { Admission } from './traffic-control.ts';
import { UdpPeer } from './udp-peer.ts';

/**
 * Sessions of one mapping that may wait for a proxy channel at once; new addresses beyond it are
 * dropped. With each waiting session's queue bounded too, a flood of new (even spoofed) source
 * addresses cannot make the server hold more than this many small queues per mapping.
 */
export const MAX_WAITING_SESSIONS = 256;

export interface UdpVisitorsContext {
  /** The mapping as it is now (an edit keeps the port and its sessions). */
  mapping: () => MappingRecord;
  /** Security group and connection limits for a new visitor address; undefined: refused. */
  admit: (remoteAddress: string, mapping: MappingRecord) => Admission | undefined;
  /** Hands an admitted session to the channel pool. */
  accept: (peer: UdpPeer, mapping: MappingRecord, admission: Admission) => void;
  /** Sends a datagram to a visitor through the mapping's public port; false when dropped. */
  send: (datagram: Buffer, address: string, port: number) => boolean;
  idleTimeoutMs: number;
}

export class UdpVisitors {
  readonly #ctx: UdpVisitorsContext;
  readonly #peers = new Map<string, UdpPeer>();
  /** Sessions not yet carried by a proxy channel. */
  readonly #waiting = new Set<UdpPeer>();
  #closed = false;

  constructor(ctx: UdpVisitorsContext) {
    this.#ctx = ctx;
  }

  /** Open sessions (one per visitor address). */
  get size(): number {
    return this.#peers.size;
  }

  /** A datagram arrived on the public port (a DatagramHandler). */
  readonly onDatagram = (datagram: Buffer, from: RemoteInfo): void => {
    const key = `${from.address} ${from.port}`;
    const existing = this.#peers.get(key);
    if (existing) {
      existing.receive(datagram);
      return;
    }
    if (this.#closed || this.#waiting.size >= MAX_WAITING_SESSIONS) return;
    const mapping = this.#ctx.mapping();
    // A refused address gets no session: each of its datagrams is checked (cheaply) and dropped.
    const admission = this.#ctx.admit(from.address, mapping);
    if (!admission) return;
    const { address, port } = from;
    const peer = new UdpPeer({
      remoteAddress: address,
      remotePort: port,
      idleTimeoutMs: this.#ctx.idleTimeoutMs,
      send: (reply) => this.#ctx.send(reply, address, port),
    });
    this.#peers.set(key, peer);
    this.#waiting.add(peer);
    peer.once('start', () => this.#waiting.delete(peer));
    peer.once('close', () => {
      if (this.#peers.get(key) === peer) this.#peers.delete(key);
      this.#waiting.delete(peer);
      admission.release();
    });
    peer.receive(datagram);
    this.#ctx.accept(peer, mapping, admission);
  };

  /** Ends every session (the port is closing); new datagrams are ignored from now on. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const peer of [...this.#peers.values()]) peer.destroy();
    this.#peers.clear();
    this.#waiting.clear();
  }
}
