// One visitor's connection to the shared HTTP or HTTPS port. Requests are read one after another
// (pipelined or kept alive), each routed by its Host (on HTTPS: only the TLS server name's), its
// head rewritten per the mapping and forwarded with its body through a tunnel stream to the
// mapping's target; responses flow back untouched while a scanner follows where each one ends.
// A request for another mapping waits until the current one has answered everything, then the
// stream is swapped. After a 101 the bytes flow raw both ways. Pages the router answers itself
// (404, 502, 308, 401, …) wait for earlier responses, then close the connection. This module reads
// the visitor and keeps the connection's state; request-dispatch.ts decides what becomes of each
// request, and target-link.ts holds the stream to the target.

import type { Socket } from 'node:net';
import { codeOf, type ErrorCode } from '../errors.ts';
import type { ConnectionContext } from './connection-context.ts';
import { ConnectionTimer, type TimerKind } from './connection-timer.ts';
import { forwardedHead } from './forwarded-head.ts';
import { HttpError } from './http-error.ts';
import { errorPage, STATUS_OF } from './local-responses.ts';
import { authorize, type Dispatch, dispatch, errorAnswer, type LocalAnswer } from './request-dispatch.ts';
import type { RequestHead } from './request-head.ts';
import { RequestReader } from './request-reader.ts';
import type { HttpRoute } from './routes.ts';
import { TargetLink } from './target-link.ts';
import type { Upstream } from './upstream.ts';

/** How long a closing connection keeps reading (and dropping) so the visitor gets our answer. */
const LINGER_MS = 2000;

type Hold = 'auth' | 'switch' | 'upgrade';

export class VisitorConnection {
  readonly #socket: Socket;
  readonly #ctx: ConnectionContext;
  readonly #serverName: string | undefined;
  readonly #reader = new RequestReader();
  readonly #link: TargetLink;
  /** The reader waits: for a password check, for answers before a switch, for an upgrade's answer. */
  #hold: Hold | undefined;
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
  readonly #timer = new ConnectionTimer((kind) => this.#timedOut(kind));
  #closed = false;

  /** `serverName`: the TLS server name (SNI) of an HTTPS connection, lower case. */
  constructor(socket: Socket, ctx: ConnectionContext, serverName?: string) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#serverName = serverName;
    this.#link = new TargetLink(socket, ctx, {
      answered: () => this.#answered(),
      upgraded: () => this.#goRaw(),
      lost: (code, page) => this.#lost(code, page),
      idle: () => this.#targetIdle(),
      ended: () => this.#targetEnded(),
      drained: () => this.#pump(),
    });
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
      this.#link.send(chunk);
      this.#flow();
      return;
    }
    if (this.#closing || this.#done) return; // read and dropped, so the visitor sees our answer
    this.#reader.push(chunk);
    this.#pump();
  }

  #stopped(): boolean {
    return this.#closed || this.#closing || this.#done || this.#raw || this.#link.blocked || !!this.#hold;
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
        this.#link.send(event.data);
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
    if (this.#upgrading && this.#link.outstanding > 0) this.#hold = 'upgrade';
    this.#upgrading = false;
  }

  /** Reads the visitor while that leads somewhere; arms the timer that fits the state. */
  #flow(): void {
    if (this.#closed) return;
    const blocked = this.#link.blocked;
    const waiting = this.#raw ? blocked : blocked || !!this.#hold;
    if (waiting) this.#socket.pause();
    else this.#socket.resume();
    this.#armTimer();
  }

  #dispatch(head: RequestHead): void {
    const site = { serverName: this.#serverName, mappingId: this.#link.mappingId, remote: this.#remote };
    this.#carryOut(dispatch(head, this.#ctx, site), head);
  }

  #carryOut(outcome: Dispatch, head: RequestHead): void {
    if (outcome.kind === 'forward') {
      this.#forward(head, outcome.route);
    } else if (outcome.kind === 'answer') {
      this.#answer(outcome.answer, head);
    } else if (outcome.kind === 'switch') {
      // Once the open stream has answered all it was asked, it is closed and the request goes again.
      this.#hold = 'switch';
      this.#link.afterAnswers(() => {
        this.#hold = undefined;
        this.#release();
        this.#dispatch(head);
        this.#pump();
      });
    } else {
      // Nothing more is read until the password check has decided this request.
      this.#hold = 'auth';
      void outcome.verdict.then((result) => {
        if (this.#closed) return;
        this.#hold = undefined;
        this.#carryOut(authorize(result, head, outcome.route), head);
        this.#pump();
      });
    }
  }

  #forward(head: RequestHead, route: HttpRoute): void {
    let upstream: Upstream;
    try {
      upstream = this.#link.streamFor(route);
    } catch (error) {
      this.#answer(errorAnswer(codeOf(error), head), head);
      return;
    }
    upstream.expect({ method: head.method, upgrade: head.upgrade });
    this.#upgrading = head.upgrade;
    this.#inBody = head.body.kind !== 'none';
    this.#link.send(
      forwardedHead(head, route, { remoteAddress: this.#remote, secure: this.#ctx.protocol === 'https' }),
    );
  }

  /** Every request sent to the target has its complete answer. */
  #answered(): void {
    if (this.#hold === 'upgrade') this.#hold = undefined; // refused: HTTP goes on
    this.#link.answered();
    this.#pump();
  }

  #goRaw(): void {
    this.#raw = true;
    this.#hold = undefined;
    for (const chunk of this.#reader.drain()) this.#link.send(chunk);
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
    this.#link.drop();
    this.#closing = false;
    // Whatever ended the session (the client went away, say), for the visitor it is a bad gateway.
    this.#answer(errorAnswer(code, undefined, { status: STATUS_OF[code] ?? 502 }), undefined);
  }

  /** Closes the current stream (cleanly: the target sees the end of its requests). */
  #release(): void {
    if (!this.#link.active) return;
    if (this.#hold === 'upgrade') this.#hold = undefined;
    this.#link.release();
  }

  #refuse(error: unknown): void {
    // The target has half a request it will wait on forever: drop it, answer now.
    if (this.#inBody) this.#link.drop();
    const refusal = error instanceof HttpError ? error : undefined;
    const code = refusal?.code ?? 'MUON_ERR_INTERNAL';
    this.#ctx.logger.debug(
      { code, remote: this.#remote, err: (error as Error).message },
      'HTTP request refused',
    );
    this.#respond(errorPage(code, 'GET', { status: refusal?.status ?? 500 }));
  }

  /** Logs an answer of ours to `head` (undefined when no head was read), then sends it. */
  #answer(answer: LocalAnswer, head: RequestHead | undefined): void {
    const { code, detail } = answer;
    this.#ctx.logger.debug(
      { code, host: head?.host.name, remote: this.#remote, ...(detail && { detail }) },
      'HTTP request answered by the router',
    );
    this.#respond(answer.response);
  }

  /** Our own answer, after the target's answers to earlier requests; then the connection closes. */
  #respond(response: Buffer): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#link.afterAnswers(() => {
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
      this.#link.end();
      return;
    }
    if (this.#closing) return;
    // Nothing more will come: answer what was asked, then close.
    this.#done = true;
    const link = this.#link;
    if (link.active && (link.outstanding > 0 || !this.#reader.awaitingHead)) link.end();
    else {
      this.#release();
      this.#endVisitor();
    }
  }

  #armTimer(): void {
    if (this.#timer.kind === 'linger') return;
    const waitingForHead =
      !this.#raw &&
      !this.#closing &&
      !this.#done &&
      !this.#hold &&
      this.#reader.awaitingHead &&
      this.#link.outstanding === 0;
    if (!waitingForHead) this.#timer.clear();
    else if (this.#reader.idle) this.#timer.set('idle', this.#ctx.idleTimeoutMs);
    else this.#timer.set('head', this.#ctx.headTimeoutMs);
  }

  #timedOut(kind: TimerKind): void {
    if (kind === 'linger') this.#socket.destroy();
    else if (kind === 'head') this.#answer(errorAnswer('MUON_ERR_HTTP_TIMEOUT', undefined), undefined);
    else {
      this.#release();
      this.#endVisitor();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.clear();
    this.#link.drop();
    this.#ctx.onClosed(this);
  }

  get #remote(): string {
    return this.#socket.remoteAddress ?? '';
  }
}
