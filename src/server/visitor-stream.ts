// An HTTP visitor's in-process connection through the tunnel: the router holds one end, the
// tunnel relays the other (a VisitorStream) as it would a visitor's socket. The tunnel's end
// carries the real visitor's address (for CONNECT and the security group) and, when the tunnel
// gives up on the visitor before the target answers, the reason, which the router's page shows.

import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';
import { StreamEnd } from '../net/stream-pair.ts';

/** Who the stream is for, and where they came in. */
export interface StreamVisitor {
  /** The visitor's TCP peer address as the server saw it (never a header). */
  remoteAddress: string;
  remotePort: number;
  /** The server address the visitor connected to. */
  localAddress: string;
  /** The shared HTTP or HTTPS port the visitor connected to (for CONNECT, logs and metrics). */
  publicPort: number;
  /** Which of the two it is (for metrics, also when no client is there to name the mapping's). */
  protocol: 'http' | 'https';
}

export class VisitorStream extends StreamEnd {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  #failure: ErrorCode | undefined;

  constructor(visitor: StreamVisitor) {
    super();
    this.remoteAddress = visitor.remoteAddress;
    this.remotePort = visitor.remotePort;
    this.localAddress = visitor.localAddress;
  }

  get failure(): ErrorCode | undefined {
    return this.#failure;
  }

  /** The tunnel gave up on this visitor (the first reason counts); it closes the stream next. */
  fail(code: ErrorCode): void {
    this.#failure ??= code;
  }
}

/** What TunnelServer.openStream hands the router. */
export interface TunnelStream {
  /** The router's end: the visitor's (rewritten) bytes go in, the target's come out. */
  readonly stream: Duplex;
  /** Why the tunnel ended the stream before the target answered, if it did. */
  readonly failure: ErrorCode | undefined;
}

/** A connected pair: the tunnel's end, and the router's handle on the other. */
export function visitorStreamPair(visitor: StreamVisitor): {
  tunnelEnd: VisitorStream;
  handle: TunnelStream;
} {
  const tunnelEnd = new VisitorStream(visitor);
  const routerEnd = new StreamEnd();
  StreamEnd.join(tunnelEnd, routerEnd);
  return {
    tunnelEnd,
    handle: {
      stream: routerEnd,
      get failure() {
        return tunnelEnd.failure;
      },
    },
  };
}
