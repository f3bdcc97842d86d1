// What a visitor connection needs from the router that accepted it: which listener it came in on,
// the current route table, the tunnel to open streams through, basic auth, timeouts, where
// force-HTTPS redirects point, and the ACME challenges to answer.

import type { Logger } from '../log.ts';
import type { ChallengeResponses } from './acme-challenge.ts';
import type { BasicAuth } from './basic-auth.ts';
import type { RouteTable } from './route-table.ts';
import type { HttpProtocol, StreamOpener } from './routes.ts';
import type { VisitorConnection } from './visitor-connection.ts';

export interface ConnectionContext {
  /** 'https' on the TLS listener: its routes, and Host must match the TLS server name. */
  protocol: HttpProtocol;
  /** The shared port visitors connected to (for CONNECT, logs and metrics). */
  listenerPort: number;
  table: () => RouteTable;
  tunnel: StreamOpener;
  auth: BasicAuth;
  logger: Logger;
  /** How long a started request head may take to arrive (then 408). */
  headTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request (then it is closed). */
  idleTimeoutMs: number;
  /** The HTTPS port force-HTTPS redirects point to; undefined without an HTTPS listener. */
  httpsPort: number | undefined;
  /** Pending ACME HTTP-01 challenges, answered on the plain-HTTP port before routing. */
  challenges: ChallengeResponses | undefined;
  /** Called once, when the visitor's socket has closed. */
  onClosed: (connection: VisitorConnection) => void;
}
