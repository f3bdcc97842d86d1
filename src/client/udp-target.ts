// The client's socket towards a UDP target for one session: a fresh ephemeral port per visitor,
// connected to the target so only the target's datagrams come back on it. Resolving and
// connecting take a moment: the visitor's datagrams wait meanwhile in a bounded queue.

import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { DatagramQueue } from '../net/datagram-queue.ts';
import type { DatagramEndpoint } from '../net/datagram-relay.ts';
import { isOutOfFiles } from '../net/out-of-files.ts';
import type { LocalFailure } from '../net/relay.ts';

/** Bytes the socket may hold unsent; datagrams beyond that are dropped, not queued. */
const MAX_SEND_QUEUE_BYTES = 256 * 1024;

export interface UdpTargetOptions {
  host: string;
  port: number;
  /** Bound on resolving the host and connecting the socket. */
  timeoutMs: number;
  /** The socket is ready: the session may answer CONNECTED (called before any datagram arrives). */
  onConnected: () => void;
  /**
   * The target could not be reached (for the log); the session then ends with `code`:
   * TARGET_UNREACHABLE, or OUT_OF_FILES when this process had no descriptor left for the socket.
   */
  onFailed: (code: TargetFailureCode, message: string) => void;
}

export type TargetFailureCode = 'MUON_ERR_TARGET_UNREACHABLE' | 'MUON_ERR_OUT_OF_FILES';

const ignore = () => {};

export class UdpTarget implements DatagramEndpoint {
  readonly #o: UdpTargetOptions;
  readonly #pending = new DatagramQueue();
  #socket: Socket | undefined;
  #ready = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: UdpTargetOptions) {
    this.#o = options;
  }

  /** Resolves and connects, then delivers the target's datagrams to `onDatagram`. */
  start(onDatagram: (datagram: Buffer) => void, onClosed: (failure: LocalFailure) => void): void {
    const { host, port, timeoutMs } = this.#o;
    const fail = (reason: string, error?: unknown) => {
      if (this.#closed) return;
      const message = `cannot reach UDP ${host}:${port}: ${reason}`;
      const code = isOutOfFiles(error) ? 'MUON_ERR_OUT_OF_FILES' : 'MUON_ERR_TARGET_UNREACHABLE';
      this.close();
      this.#o.onFailed(code, message);
      onClosed({ code, message });
    };
    this.#timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
    lookup(host).then(
      ({ address, family }) => {
        if (this.#closed) return;
        const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
        this.#socket = socket;
        socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message, error));
        socket.connect(port, address, () => {
          if (this.#closed) return;
          clearTimeout(this.#timer);
          // From now on errors concern single datagrams (an ICMP "port unreachable" while the
          // service restarts, say): the session goes on until it idles out.
          socket.removeAllListeners('error');
          socket.on('error', ignore);
          this.#o.onConnected();
          this.#ready = true;
          for (const datagram of this.#pending.drain()) this.send(datagram);
          socket.on('message', (datagram) => onDatagram(datagram));
        });
      },
      (error: NodeJS.ErrnoException) => fail(error.code ?? error.message, error),
    );
  }

  /** A datagram for the target; held (bounded) until the socket is connected. */
  send(datagram: Buffer): void {
    if (this.#closed) return;
    const socket = this.#socket;
    if (!this.#ready || !socket) {
      this.#pending.push(datagram);
      return;
    }
    if (socket.getSendQueueSize() > MAX_SEND_QUEUE_BYTES) return;
    socket.send(datagram, ignore);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#pending.drain();
    const socket = this.#socket;
    this.#socket = undefined;
    if (!socket) return;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }
}
