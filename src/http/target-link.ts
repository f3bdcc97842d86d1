// The target side of one visitor connection: at most one tunnel stream (an Upstream) at a time, to
// the mapping its requests go to. It opens the stream with the visitor's addresses, writes towards
// it with backpressure (the connection stops reading the visitor while the stream is full), keeps
// the step that waits until every request sent has its answer (a switch to another mapping, a page
// of the router's own), and lets a stream go cleanly (release) or drops it (drop).

import type { Socket } from 'node:net';
import type { ConnectionContext } from './connection-context.ts';
import type { HttpRoute } from './routes.ts';
import { Upstream, type UpstreamOwner } from './upstream.ts';

export interface TargetLinkOwner extends UpstreamOwner {
  /** The stream that was full has drained: the visitor may be read again. */
  drained(): void;
}

export class TargetLink {
  readonly #visitor: Socket;
  readonly #ctx: ConnectionContext;
  readonly #owner: TargetLinkOwner;
  #upstream: Upstream | undefined;
  /** The stream is full: the visitor is not read until it drains. */
  #blocked = false;
  /** What runs once every request sent has its complete answer. */
  #whenAnswered: (() => void) | undefined;

  constructor(visitor: Socket, ctx: ConnectionContext, owner: TargetLinkOwner) {
    this.#visitor = visitor;
    this.#ctx = ctx;
    this.#owner = owner;
  }

  /** A stream is open. */
  get active(): boolean {
    return this.#upstream !== undefined;
  }

  /** The mapping the open stream goes to. */
  get mappingId(): string | undefined {
    return this.#upstream?.mappingId;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  /** Requests sent on the open stream and not completely answered (0 without a stream). */
  get outstanding(): number {
    return this.#upstream?.outstanding ?? 0;
  }

  /** The open stream, or a new one to the route's mapping; throws what the tunnel refuses with. */
  streamFor(route: HttpRoute): Upstream {
    if (this.#upstream) return this.#upstream;
    const visitor = this.#visitor;
    const tunnel = this.#ctx.tunnel.openStream(route.licenseId, route.mappingId, {
      remoteAddress: visitor.remoteAddress ?? '',
      remotePort: visitor.remotePort ?? 0,
      localAddress: visitor.localAddress ?? '',
      publicPort: this.#ctx.listenerPort,
      protocol: this.#ctx.protocol,
    });
    const upstream = new Upstream(route.mappingId, tunnel, visitor, this.#owner, this.#ctx.logger);
    this.#upstream = upstream;
    return upstream;
  }

  /** Visitor bytes (a rewritten head, a body, raw bytes) towards the target. */
  send(bytes: Buffer): void {
    const upstream = this.#upstream;
    if (!upstream || upstream.write(bytes) || this.#blocked) return;
    this.#blocked = true;
    upstream.onDrain(() => {
      if (this.#upstream !== upstream) return;
      this.#blocked = false;
      this.#owner.drained();
    });
  }

  /** Runs `next` now if nothing is owed, else once every request sent has its answer. */
  afterAnswers(next: () => void): void {
    const upstream = this.#upstream;
    if (!upstream || upstream.outstanding === 0) next();
    else this.#whenAnswered = next;
  }

  /** Every request sent has its complete answer: runs the step that waited for that, if any. */
  answered(): void {
    const next = this.#whenAnswered;
    this.#whenAnswered = undefined;
    next?.();
  }

  /** Half-closes towards the target: the visitor has sent everything. */
  end(): void {
    this.#upstream?.end();
  }

  /** Closes the open stream cleanly: the target sees the end of its requests. */
  release(): void {
    const upstream = this.#upstream;
    if (!upstream) return;
    this.#upstream = undefined;
    this.#blocked = false;
    upstream.release();
  }

  /** Drops the open stream and whatever waited on its answers (the target is told to close). */
  drop(): void {
    const upstream = this.#upstream;
    this.#upstream = undefined;
    this.#blocked = false;
    this.#whenAnswered = undefined;
    upstream?.abort();
  }
}
