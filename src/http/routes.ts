// What the HTTP router needs to know, and the narrow interface it learns it through: host names
// of enabled http/https mappings with their options, and the domains with their certificates.
// The store implements HttpDirectory (store-http-directory.ts); the router never imports it.

import type { StreamVisitor, TunnelStream } from '../server/visitor-stream.ts';

export type HttpProtocol = 'http' | 'https';

export interface BasicAuthRecord {
  username: string;
  /** argon2id hash of the password. Never logged. */
  passwordHash: string;
}

/** One host name of an enabled http/https mapping (of an enabled license, under an enabled domain). */
export interface HttpRoute {
  /** Lower case: an exact name, or `*.` and a name (a wildcard of one label). */
  hostname: string;
  protocol: HttpProtocol;
  licenseId: string;
  mappingId: string;
  targetHost: string;
  targetPort: number;
  /** Replace X-Forwarded-For/-Proto/-Host (and drop Forwarded) with what the server saw. */
  addForwardedHeaders: boolean;
  /** Send `Host: targetHost:targetPort` instead of the visitor's Host. */
  rewriteHost: boolean;
  basicAuth: BasicAuthRecord | null;
}

/** An enabled base domain. */
export interface DomainRecord {
  id: string;
  /** Lower case, e.g. example.com. */
  name: string;
  /** Plain HTTP requests for names under it are redirected to HTTPS. */
  forceHttps: boolean;
  /** PEM certificate (leaf first, then its chain) and private key; null without a certificate. */
  tls: { cert: string; key: string } | null;
}

export interface RouteSnapshot {
  routes: readonly HttpRoute[];
  domains: readonly DomainRecord[];
}

export interface HttpDirectory {
  /** Every route and domain as they are now. */
  snapshot(): Promise<RouteSnapshot>;
  /** Calls `listener` after any change that may alter the snapshot. Returns an unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** Opens a stream to a mapping's target through the tunnel (TunnelServer.openStream). */
export interface StreamOpener {
  openStream(licenseId: string, mappingId: string, visitor: StreamVisitor): TunnelStream;
}
