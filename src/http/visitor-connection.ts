// One visitor's connection to the shared HTTP or HTTPS port. Requests are read one after another
// (pipelined or kept alive), each routed by its Host (on HTTPS: only the TLS server name's), its
// head rewritten per the mapping and forwarded with its body through a tunnel stream to the
// mapping's target; responses flow back untouched while a scanner follows where each one ends.
// A request for another mapping waits until the current one has answered everything, then the
// stream is swapped. After a 101 the bytes flow raw both ways. Pages the router answers itself
// (404, 502, 308, 401, …) wait for earlier responses, then close the connection.

import type { Socket } from 'node:net';
import { codeOf, type ErrorCode } from '../errors.ts';
import type { AuthVerdict } from './basic-auth.ts';
import type { ConnectionContext } from './connection-context.ts';
import { ConnectionTimer, type TimerKind } from './connection-timer.ts';
import { forwardedHead } from './forwarded-head.ts';
import { HttpError } from './http-error.ts';
import { authRequired, errorPage, STATUS_OF } from './local-responses.ts';
import { valuesOf } from './message-head.ts';
import type { RequestHead } from './request-head.ts';
import { RequestReader } from './request-reader.ts';
import { decide } from './route-decision.ts';
import type { HttpRoute } from './routes.ts';
import { Upstream } from './upstream.ts';

/** How long a closing connection keeps reading (and dropping) so the visitor gets our answer. */
const LINGER_MS = 2000;

type Hold = 'auth' | 'switch' | 'upgrade';

export class VisitorConnection {
  readonly #socket: Socket;
  readonly #ctx: ConnectionContext;
  readonly #serverName: string | undefined;
  readonly #reader = new RequestReader();
  #upstream: Upstream | undefined;
  /** The reader waits: for a password check, for answers before a switch, for an upgrade's answer. */
  #hold: Hold | undefined;
  /** The target's stream is full: the visitor is not read until it drains. */
  #writeBlocked = false;
  /** After a 101: every byte is the new protocol's, both ways. */
  #raw = false;
  /** An answer of ours is queued or sent: nothing more is read as requests. */
  #closing = false;
  /** The current request is the last one (Connection: close, or the visitor ended). */
  #lastRequest = false;
  #done = false;
  #upgrading = false;
  /** The current request's body is on its way to the target. */
  #inBody = false;
  #whenAnswered: (() => void) | undefined;
  readonly #timer = new ConnectionTimer((kind) => this.#timedOut(kind));
  #closed = false;

  /** `serverName`: the TLS server name (SNI) of an HTTPS connection, lower case. */
  constructor(socket: Socket, ctx: ConnectionContext, serverName?: string) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#serverName = serverName;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onVisitorEnd());
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.#onClose());
    this.#flow();
  }

  /** Closes the connection at once (server shutdown). */
  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#raw) {
      this.#send(chunk);
      this.#flow();
      return;
    }
    if (this.#closing || this.#done) return; // read and dropped, so the visitor sees our answer
    this.#reader.push(chunk);
    this.#pump();
  }

  #stopped(): boolean {
    return this.#closed || this.#closing || this.#done || this.#raw || this.#writeBlocked || !!this.#hold;
  }

  /** Handles every request event the reader has, until something makes the reader wait. */
  #pump(): void {
    while (!this.#stopped()) {
      let event: ReturnType<RequestReader['next']>;
      try {
        event = this.#reader.next();
      } catch (error) {
        this.#refuse(error);
        break;
      }
      if (!event) break;
      if (event.kind === 'head') {
        this.#lastRequest = !event.head.keepAlive;
        this.#dispatch(event.head);
      } else if (event.kind === 'body') {
        this.#send(event.data);
      } else {
        this.#requestEnded();
      }
    }
    this.#flow();
  }

  #requestEnded(): void {
    this.#inBody = false;
    if (this.#lastRequest) this.#done = true;
    // The answer decides whether what follows is HTTP (anything else) or raw bytes (101).
    if (this.#upgrading && this.#upstream && this.#upstream.outstanding > 0) this.#hold = 'upgrade';
    this.#upgrading = false;
  }

  /** Reads the visitor while that leads somewhere; arms the timer that fits the state. */
  #flow(): void {
    if (this.#closed) return;
    const waiting = this.#raw ? this.#writeBlocked : this.#writeBlocked || !!this.#hold;
    if (waiting) this.#socket.pause();
    else this.#socket.resume();
    this.#armTimer();
  }

  #dispatch(head: RequestHead): void {
    const route = this.#routeOf(head);
    if (!route) return;
    if (this.#upstream && this.#upstream.mappingId !== route.mappingId) {
      // Another mapping on a kept-alive connection: once the current one has answered what it
      // was asked, its stream is closed and this request starts a stream to the new one.
      this.#hold = 'switch';
      this.#afterAnswers(() => {
        this.#hold = undefined;
        this.#release();
        this.#dispatch(head);
        this.#pump();
      });
      return;
    }
    if (!route.basicAuth) {
      this.#forward(head, route);
      return;
    }
    const header = valuesOf(head.fields, 'authorization')[0];
    const verdict = this.#ctx.auth.check(route.mappingId, route.basicAuth, header, this.#remote);
    if (typeof verdict === 'string') {
      this.#authorized(verdict, head, route);
      return;
    }
    this.#hold = 'auth';
    void verdict.then((result) => {
      if (this.#closed) return;
      this.#hold = undefined;
      this.#authorized(result, head, route);
      this.#pump();
    });
  }

  /** The route of a request, or undefined once the router has answered it (421, 308, 404, ACME). */
  #routeOf(head: RequestHead): HttpRoute | undefined {
    const { protocol, httpsPort, challenges } = this.#ctx;
    const decision = decide(head, this.#ctx.table(), {
      protocol,
      httpsPort,
      serverName: this.#serverName,
      challenges,
    });
    if (decision.kind === 'route') return decision.route;
    if (decision.kind === 'refuse') {
      this.#fail(decision.code, head);
    } else {
      this.#log(
        undefined,
        head,
        decision.kind === 'redirect' ? 'redirected to HTTPS' : 'ACME challenge answered',
      );
      this.#respond(decision.response);
    }
    return undefined;
  }

  #authorized(verdict: AuthVerdict, head: RequestHead, route: HttpRoute): void {
    if (verdict === 'ok') {
      this.#forward(head, route);
    } else if (verdict === 'limited') {
      this.#fail('MUON_ERR_RATE_LIMITED', head, { headers: [['Retry-After', '60']] });
    } else {
      this.#log('MUON_ERR_HTTP_AUTH_REQUIRED', head, verdict);
      this.#respond(authRequired(head.method, route.hostname));
    }
  }

  #forward(head: RequestHead, route: HttpRoute): void {
    let upstream = this.#upstream;
    if (!upstream) {
      try {
        upstream = this.#open(route);
      } catch (error) {
        this.#fail(codeOf(error), head);
        return;
      }
    }
    upstream.expect({ method: head.method, upgrade: head.upgrade });
    this.#upgrading = head.upgrade;
    this.#inBody = head.body.kind !== 'none';
    this.#send(
      forwardedHead(head, route, { remoteAddress: this.#remote, secure: this.#ctx.protocol === 'https' }),
    );
  }

  #open(route: HttpRoute): Upstream {
    const tunnel = this.#ctx.tunnel.openStream(route.licenseId, route.mappingId, {
      remoteAddress: this.#remote,
      remotePort: this.#socket.remotePort ?? 0,
      localAddress: this.#socket.localAddress ?? '',
      publicPort: this.#ctx.listenerPort,
    });
    const upstream = new Upstream(
      route.mappingId,
      tunnel,
      this.#socket,
      {
        answered: () => this.#answered(),
        upgraded: () => this.#goRaw(),
        lost: (code, page) => this.#lost(code, page),
        idle: () => this.#targetIdle(),
        ended: () => this.#targetEnded(),
      },
      this.#ctx.logger,
    );
    this.#upstream = upstream;
    return upstream;
  }

  /** Visitor bytes (a rewritten head, a body, raw bytes) towards the target. */
  #send(bytes: Buffer): void {
    const upstream = this.#upstream;
    if (!upstream || upstream.write(bytes) || this.#writeBlocked) return;
    this.#writeBlocked = true;
    upstream.onDrain(() => {
      if (this.#upstream !== upstream) return;
      this.#writeBlocked = false;
      this.#pump();
    });
  }

  /** Every request sent to the target has its complete answer. */
  #answered(): void {
    if (this.#hold === 'upgrade') this.#hold = undefined; // refused: HTTP goes on
    const next = this.#whenAnswered;
    this.#whenAnswered = undefined;
    next?.();
    this.#pump();
  }

  #afterAnswers(next: () => void): void {
    const upstream = this.#upstream;
    if (!upstream || upstream.outstanding === 0) next();
    else this.#whenAnswered = next;
  }

  #goRaw(): void {
    this.#raw = true;
    this.#hold = undefined;
    for (const chunk of this.#reader.drain()) this.#send(chunk);
    this.#flow();
  }

  /** The target's stream ended with nothing owed: the next request opens a new one. */
  #targetIdle(): void {
    this.#release();
    if (this.#done) this.#endVisitor();
    else this.#flow();
  }

  /** The target closed after raw bytes (half-close, passed on), or after an answer ending with it. */
  #targetEnded(): void {
    if (this.#raw) {
      this.#socket.end();
      return;
    }
    this.#release();
    this.#endVisitor();
  }

  /** The target will not answer what it was sent: a page if none of its answer went out, or a cut. */
  #lost(code: ErrorCode, page: boolean): void {
    if (!page) {
      this.#socket.destroy();
      return;
    }
    const upstream = this.#upstream;
    this.#upstream = undefined;
    upstream?.abort();
    this.#writeBlocked = false;
    this.#whenAnswered = undefined;
    this.#closing = false;
    // Whatever ended the session (the client went away, say), for the visitor it is a bad gateway.
    this.#fail(code, undefined, { status: STATUS_OF[code] ?? 502 });
  }

  /** Closes the current stream (cleanly: the target sees the end of its requests). */
  #release(): void {
    const upstream = this.#upstream;
    if (!upstream) return;
    this.#upstream = undefined;
    this.#writeBlocked = false;
    if (this.#hold === 'upgrade') this.#hold = undefined;
    upstream.release();
  }

  #refuse(error: unknown): void {
    if (this.#inBody) {
      // The target has half a request it will wait on forever: drop it, answer now.
      const upstream = this.#upstream;
      this.#upstream = undefined;
      this.#whenAnswered = undefined;
      upstream?.abort();
    }
    const refusal = error instanceof HttpError ? error : undefined;
    const code = refusal?.code ?? 'MUON_ERR_INTERNAL';
    this.#ctx.logger.debug(
      { code, remote: this.#remote, err: (error as Error).message },
      'HTTP request refused',
    );
    this.#respond(errorPage(code, 'GET', { status: refusal?.status ?? 500 }));
  }

  #fail(
    code: ErrorCode,
    head: RequestHead | undefined,
    options: { status?: number; headers?: [string, string][] } = {},
  ): void {
    this.#log(code, head);
    this.#respond(errorPage(code, head?.method ?? 'GET', options));
  }

  #log(code: ErrorCode | undefined, head: RequestHead | undefined, detail?: string): void {
    this.#ctx.logger.debug(
      { code, host: head?.host.name, remote: this.#remote, ...(detail && { detail }) },
      'HTTP request answered by the router',
    );
  }

  /** Our own answer, after the target's answers to earlier requests; then the connection closes. */
  #respond(response: Buffer): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#afterAnswers(() => {
      this.#release();
      this.#socket.write(response);
      this.#endVisitor();
    });
    this.#flow();
  }

  /** Ends our side; keeps reading (and dropping) for a moment so the visitor gets what we sent. */
  #endVisitor(): void {
    this.#closing = true;
    this.#socket.end();
    this.#timer.set('linger', LINGER_MS);
    this.#socket.resume();
  }

  #onVisitorEnd(): void {
    if (this.#raw) {
      this.#upstream?.end();
      return;
    }
    if (this.#closing) return;
    // Nothing more will come: answer what was asked, then close.
    this.#done = true;
    const upstream = this.#upstream;
    if (upstream && (upstream.outstanding > 0 || !this.#reader.awaitingHead)) upstream.end();
    else {
      this.#release();
      this.#endVisitor();
    }
  }

  #armTimer(): void {
    if (this.#timer.kind === 'linger') return;
    const upstream = this.#upstream;
    const waitingForHead =
      !this.#raw &&
      !this.#closing &&
      !this.#done &&
      !this.#hold &&
      this.#reader.awaitingHead &&
      (!upstream || upstream.outstanding === 0);
    if (!waitingForHead) this.#timer.clear();
    else if (this.#reader.idle) this.#timer.set('idle', this.#ctx.idleTimeoutMs);
    else this.#timer.set('head', this.#ctx.headTimeoutMs);
  }

  #timedOut(kind: TimerKind): void {
    if (kind === 'linger') this.#socket.destroy();
    else if (kind === 'head') this.#fail('MUON_ERR_HTTP_TIMEOUT', undefined);
    else {
      this.#release();
      this.#endVisitor();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.clear();
    const upstream = this.#upstream;
    this.#upstream = undefined;
    upstream?.abort();
    this.#ctx.onClosed(this);
  }

  get #remote(): string {
    return this.#socket.remoteAddress ?? '';
  }
}
