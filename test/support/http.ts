// The HTTP router on loopback for end-to-end tests: a tunnel server and client (support/stack.ts),
// an in-memory route directory, the router on port 0 for HTTP and HTTPS, HTTP targets made with
// node:http, and small clients that speak raw bytes or node:http through plain TCP or TLS.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { checkPassword } from '../../src/admin/passwords.ts';
import { HttpRouter, type HttpRouterOptions } from '../../src/http/http-router.ts';
import type { DomainRecord, HttpDirectory, HttpRoute, RouteSnapshot } from '../../src/http/routes.ts';
import type { LicenseRecord, MappingRecord } from '../../src/server/directory.ts';
import { type Stack, type StackOptions, startStack } from './stack.ts';

export class MemoryHttpDirectory implements HttpDirectory {
  #snapshot: RouteSnapshot;
  readonly #listeners = new Set<() => void>();

  constructor(snapshot: RouteSnapshot) {
    this.#snapshot = snapshot;
  }

  async snapshot(): Promise<RouteSnapshot> {
    return this.#snapshot;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(snapshot: RouteSnapshot): void {
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) listener();
  }
}

/** An http/https mapping record for a StaticDirectory license. */
export function httpMapping(
  id: string,
  targetPort: number,
  extra: Partial<MappingRecord> = {},
): MappingRecord {
  return {
    id,
    protocol: 'http',
    publicPort: 0,
    targetHost: '127.0.0.1',
    targetPort,
    enabled: true,
    ...extra,
  };
}

export function httpLicense(name: string, key: string, mappings: MappingRecord[]): LicenseRecord {
  return { id: name, name, key, enabled: true, mappings };
}

export function route(
  hostname: string,
  licenseId: string,
  mappingId: string,
  targetPort: number,
  extra: Partial<HttpRoute> = {},
): HttpRoute {
  return {
    hostname,
    protocol: 'http',
    licenseId,
    mappingId,
    targetHost: '127.0.0.1',
    targetPort,
    addForwardedHeaders: true,
    rewriteHost: false,
    basicAuth: null,
    ...extra,
  };
}

export function domain(name: string, extra: Partial<DomainRecord> = {}): DomainRecord {
  return { id: name, name, forceHttps: false, tls: null, ...extra };
}

export interface HttpStack {
  stack: Stack;
  router: HttpRouter;
  directory: MemoryHttpDirectory;
  httpPort: number;
  httpsPort: number;
}

/** A tunnel (licenses in a StaticDirectory) and the router on 127.0.0.1:0 for HTTP and HTTPS. */
export async function startHttpStack(
  t: TestContext,
  licenses: LicenseRecord[],
  snapshot: RouteSnapshot,
  options: { stack?: StackOptions; router?: Partial<HttpRouterOptions> } = {},
): Promise<HttpStack> {
  const stack = await startStack(t, licenses, options.stack);
  const directory = new MemoryHttpDirectory(snapshot);
  const router = new HttpRouter({
    http: { host: '127.0.0.1', port: 0 },
    https: { host: '127.0.0.1', port: 0 },
    directory,
    tunnel: stack.server,
    verifyPassword: checkPassword,
    logger: stack.serverLog.logger,
    ...options.router,
  });
  await router.listen();
  t.after(() => router.close());
  const { http, https } = router.addresses;
  return { stack, router, directory, httpPort: http?.port ?? 0, httpsPort: https?.port ?? 0 };
}

export interface Target {
  server: Server;
  port: number;
  /** Requests seen: method, url, headers, body digest and length, and the tunnel-side socket port. */
  seen: {
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    bytes: number;
    sha256: string;
    socketPort: number;
  }[];
}

/**
 * A node:http target on 127.0.0.1:0. By default it answers `name method url` as text after
 * reading the whole body; `handler` replaces that.
 */
export async function httpTarget(
  t: TestContext,
  name: string,
  handler?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
): Promise<Target> {
  const seen: Target['seen'] = [];
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes <= 1024 * 1024) chunks.push(chunk);
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        sha256: hash.digest('hex'),
        socketPort: req.socket.remotePort ?? 0,
      });
      if (handler) return handler(req, res, Buffer.concat(chunks));
      res.setHeader('content-type', 'text/plain');
      res.end(`${name} ${req.method} ${req.url}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port, seen };
}

export interface Connection {
  socket: Socket | TLSSocket;
  /** Everything read so far. */
  text(): string;
  /** Resolves once the text read so far matches `pattern` (or rejects after `ms`). */
  until(pattern: RegExp, ms?: number): Promise<string>;
  /** Resolves with everything once the server has closed the connection. */
  closed(ms?: number): Promise<string>;
}

/** A raw connection (plain, or TLS with `servername`), reading into a buffer. */
export async function open(port: number, tls?: { servername: string; ca: string }): Promise<Connection> {
  const socket: Socket | TLSSocket = tls
    ? tlsConnect({
        host: '127.0.0.1',
        port,
        servername: tls.servername,
        ca: tls.ca,
        ALPNProtocols: ['http/1.1'],
      })
    : connect({ host: '127.0.0.1', port });
  await once(socket, tls ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    ended = true;
    wake();
  });
  const text = () => Buffer.concat(chunks).toString('latin1');
  const wait = (done: () => boolean, ms: number, what: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(text());
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got: ${text().slice(0, 500)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return {
    socket,
    text,
    until: (pattern, ms = 5000) => wait(() => pattern.test(text()) || ended, ms, String(pattern)),
    closed: (ms = 5000) => wait(() => ended, ms, 'the close'),
  };
}

/** Sends `request` on a new connection and returns everything until the server closes it. */
export async function exchange(
  port: number,
  request: string | Buffer,
  tls?: { servername: string; ca: string },
): Promise<string> {
  const connection = await open(port, tls);
  connection.socket.write(request);
  const answer = await connection.closed();
  connection.socket.destroy();
  return answer;
}

/** The status code of the first response in `text`. */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}
