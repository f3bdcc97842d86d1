// The kernel relay: joins two connected TCP sockets so that their bytes move between them inside
// the kernel (splice(2) through a pipe, on one native thread per process: native/kernel-relay.c)
// and never through JavaScript. Half-close is forwarded (end of file on one socket shuts the other
// down for writing); a failure on either socket resets both; close() aborts (resetting the
// second socket, the channel). Built by
// scripts/build-native.sh where a C compiler is present; kernelRelayAvailable() says whether it
// loaded. Raw sessions use it (docs/architecture.md, "Raw sessions and the kernel relay").
// Sealed, it joins a plain socket to a TLS channel whose bytes, from then on, are records sealed
// with keys both ends derived from the channel's TLS session (sealedRelayAvailable()).

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { MuonError } from '../errors.ts';
import { PROJECT_ROOT } from '../project-root.ts';

/** The native module's functions (native/kernel-relay.c). */
interface Native {
  /**
   * onEvent(0, error, …) once at the end; before it, onEvent(1) / onEvent(2) when a → b / b → a
   * ended. With `seal`, a is the plain socket and b the channel.
   */
  relay(
    a: number,
    b: number,
    onEvent: (kind: number, error: string | null, aToB: number, bToA: number) => void,
    seal?: Seal,
  ): object;
  abort(handle: object): void;
  bytes(handle: object): [number, number];
  /** Whether this Node exports the AES-256-GCM that sealed pairs need. */
  sealing: boolean;
}

/** A sealed pair's keys (32 bytes each) and whether this side opens with START (the server's does). */
export interface Seal {
  send: Buffer;
  receive: Buffer;
  start: boolean;
  /** Records sealed under one key before both sides move to the next: 2^20 unless set lower (tests). */
  recordsPerKey?: number;
}

const NATIVE_PATH = join(PROJECT_ROOT, 'build', 'kernel-relay.node');

let native: Native | null | undefined;

function load(): Native | null {
  if (native !== undefined) return native;
  if (process.env.MUON_KERNEL_RELAY === 'off') {
    native = null;
    return native;
  }
  try {
    native = createRequire(import.meta.url)(NATIVE_PATH) as Native;
  } catch {
    native = null;
  }
  return native;
}

/**
 * True when the native module is built and loads on this machine (Linux with splice), unless
 * MUON_KERNEL_RELAY=off in the environment switches it off.
 */
export function kernelRelayAvailable(): boolean {
  return load() !== null;
}

/** True when the kernel relay is available and can also seal (it finds AES-256-GCM in this Node). */
export function sealedRelayAvailable(): boolean {
  return load()?.sealing === true;
}

export interface KernelRelayEnd {
  /** Why it ended: null when both directions ended with end of file, 'ABORTED' after close(), else the errno name. */
  error: string | null;
  /** Bytes moved from the first socket to the second, and back. */
  aToB: number;
  bToA: number;
}

export interface KernelRelayOptions {
  /** One direction ended: its source sent end of file and its destination was shut down for writing. */
  onHalfClose?: (direction: 'aToB' | 'bToA') => void;
  /** Seal b's bytes: a is the plain socket, b the TLS channel (sealedRelayAvailable()). */
  seal?: Seal;
}

/**
 * Node's handle of a socket (not public API; stable across Node 20-24): a TCP handle, or the TLS
 * wrap of a TLS socket, whose _parent is the TCP handle underneath.
 */
interface SocketHandle {
  fd?: number;
  _parent?: SocketHandle;
  reading?: boolean;
  readStop?: () => number;
}

/** The descriptor of a socket the kernel relay may take: connected, nothing buffered either way. */
function descriptorOf(socket: Socket, name: string): number {
  const handle = (socket as unknown as { _handle?: SocketHandle })._handle;
  const fd = handle?.fd ?? handle?._parent?.fd;
  if (handle === undefined || typeof fd !== 'number' || fd < 0 || socket.connecting || socket.destroyed) {
    throw new MuonError('MUON_ERR_INTERNAL', `kernel relay: the ${name} socket is not connected`);
  }
  if (socket.readableLength > 0 || socket.writableLength > 0) {
    throw new MuonError('MUON_ERR_INTERNAL', `kernel relay: the ${name} socket has buffered data`);
  }
  return fd;
}

/**
 * Stops Node reading a socket, now and for good: a paused stream alone would read on up to its
 * high-water mark, and would start reading again to fill its buffer (Readable's maybeReadMore).
 */
export function stopReading(socket: Socket): void {
  socket.pause();
  // Whatever asks the stream for more from now on gets nothing: the bytes are someone else's.
  socket._read = () => {};
  const handle = (socket as unknown as { _handle: SocketHandle })._handle;
  if (handle.reading === true) {
    handle.reading = false;
    handle.readStop?.();
  }
}

export class KernelRelay {
  readonly #native: Native;
  readonly #handle: object;
  /** The totals onEnd reported, once it has. */
  #final: [number, number] | undefined;
  #aborted = false;

  /**
   * Takes over both sockets: from now on JavaScript neither reads nor writes them. When both
   * directions have ended, or one failed, or after close(), the sockets are destroyed (reset after
   * a failure) and onEnd is called once; before that, onHalfClose for each direction that ended.
   */
  constructor(a: Socket, b: Socket, onEnd: (end: KernelRelayEnd) => void, options: KernelRelayOptions = {}) {
    const loaded = load();
    if (loaded === null) {
      throw new MuonError(
        'MUON_ERR_INTERNAL',
        'kernel relay: the native module is not built (scripts/build-native.sh)',
      );
    }
    const fdA = descriptorOf(a, 'first');
    const fdB = descriptorOf(b, 'second');
    stopReading(a);
    stopReading(b);
    this.#native = loaded;
    const onEvent = (kind: number, error: string | null, aToB: number, bToA: number): void => {
      if (kind !== 0) {
        options.onHalfClose?.(kind === 1 ? 'aToB' : 'bToA');
        return;
      }
      this.#final = [aToB, bToA];
      // After a failure the relay reset both connections itself (its descriptors are the last).
      a.destroy();
      b.destroy();
      onEnd({ error, aToB, bToA });
    };
    this.#handle = loaded.relay(fdA, fdB, onEvent, options.seal);
    // The relay keeps its own copy of the keys.
    options.seal?.send.fill(0);
    options.seal?.receive.fill(0);
  }

  /** Bytes moved so far: first → second, second → first. */
  bytes(): [number, number] {
    return this.#final ?? this.#native.bytes(this.#handle);
  }

  /**
   * Ends the first socket with end of file and resets the second (the channel of a raw session,
   * so that the far side's relay hears of it at once); onEnd follows with error 'ABORTED'.
   * Idempotent.
   */
  close(): void {
    if (this.#final !== undefined || this.#aborted) return;
    this.#aborted = true;
    this.#native.abort(this.#handle);
  }
}
