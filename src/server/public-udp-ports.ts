// Public UDP sockets, one per mapped UDP port. As with PublicPorts (TCP), a port is routed to a
// handler, and rebinding it to a new handler (a reconnecting client taking over) swaps the route
// without closing the socket. Replies leave through the same socket, so a visitor sees them come
// from the address and port it wrote to.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { MuonError } from '../errors.ts';

export type DatagramHandler = (datagram: Buffer, from: RemoteInfo) => void;

/** Bytes a port's socket may hold unsent; replies beyond that are dropped, not queued. */
const MAX_SEND_QUEUE_BYTES = 1024 * 1024;

interface Entry {
  socket: Socket;
  handler: DatagramHandler;
  listening: Promise<void>;
}

const ignore = () => {};

export class PublicUdpPorts {
  readonly #host: string;
  readonly #entries = new Map<number, Entry>();

  constructor(host: string) {
    this.#host = host;
  }

  /** Routes `port` to `handler`, opening a socket if none is open. Rejects with MUON_ERR_PORT_IN_USE. */
  bind(port: number, handler: DatagramHandler): Promise<void> {
    const existing = this.#entries.get(port);
    if (existing) {
      existing.handler = handler;
      return existing.listening;
    }
    // An IPv6 host ("::") gives a dual-stack socket: IPv4 visitors arrive as ::ffff:a.b.c.d.
    const socket = createSocket({ type: isIPv6(this.#host) ? 'udp6' : 'udp4' });
    const entry: Entry = { socket, handler, listening: Promise.resolve() };
    socket.on('message', (datagram, from) => entry.handler(datagram, from));
    entry.listening = new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (this.#entries.get(port) === entry) this.#entries.delete(port);
        closeSocket(socket);
        reject(
          new MuonError(
            error.code === 'EADDRINUSE' ? 'MUON_ERR_PORT_IN_USE' : 'MUON_ERR_INTERNAL',
            `cannot listen on UDP ${this.#host}:${port}: ${error.code ?? error.message}`,
          ),
        );
      };
      socket.once('error', onError);
      socket.bind({ address: this.#host, port }, () => {
        socket.off('error', onError);
        // Later errors (an ICMP report on a reply) concern one datagram, not the port.
        socket.on('error', ignore);
        resolve();
      });
    });
    this.#entries.set(port, entry);
    return entry.listening;
  }

  /** Closes `port` if it is still routed to `handler` (a newer owner keeps it open). */
  unbind(port: number, handler: DatagramHandler): void {
    const entry = this.#entries.get(port);
    if (!entry || entry.handler !== handler) return;
    this.#entries.delete(port);
    closeSocket(entry.socket);
  }

  /** Sends one datagram from `port` to a visitor; false when it was dropped (port closed, queue full). */
  send(port: number, datagram: Buffer, address: string, remotePort: number): boolean {
    const socket = this.#entries.get(port)?.socket;
    if (!socket || socket.getSendQueueSize() > MAX_SEND_QUEUE_BYTES) return false;
    socket.send(datagram, remotePort, address, ignore);
    return true;
  }

  get ports(): number[] {
    return [...this.#entries.keys()];
  }

  async close(): Promise<void> {
    const sockets = [...this.#entries.values()].map((e) => e.socket);
    this.#entries.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => closeSocket(s, resolve))));
  }
}

/** Closes a socket that may still be binding, or already closed. */
function closeSocket(socket: Socket, done: () => void = ignore): void {
  try {
    socket.close(done);
  } catch {
    done(); // ERR_SOCKET_DGRAM_NOT_RUNNING: it was closed already
  }
}
