// The request head as it goes to the target: the visitor's head with the mapping's rewrites. With
// forwarded headers on, X-Forwarded-For/-Proto/-Host carry what the server saw (the visitor's
// own values, and any Forwarded header, are dropped: they cannot be trusted); with host rewrite
// on, Host names the target; with basic auth on, the visitor's credentials stay at the server.
// Pure: the same head and route give the same bytes.

import { formatHost } from './host-names.ts';
import type { RequestHead } from './request-head.ts';
import type { HttpRoute } from './routes.ts';

const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

export interface ForwardContext {
  /** The visitor's address as the server's socket saw it. */
  remoteAddress: string;
  /** The visitor came in over TLS. */
  secure: boolean;
}

export function forwardedHead(head: RequestHead, route: HttpRoute, context: ForwardContext): Buffer {
  const lines = [`${head.method} ${head.target} HTTP/${head.version}`];
  for (const [name, value] of head.fields) {
    const lower = name.toLowerCase();
    if (route.addForwardedHeaders && FORWARDED.has(lower)) continue;
    if (route.basicAuth && lower === 'authorization') continue;
    if (route.rewriteHost && lower === 'host') {
      lines.push(`${name}: ${formatHost(route.targetHost)}:${route.targetPort}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  if (route.addForwardedHeaders) {
    lines.push(
      `X-Forwarded-For: ${plainAddress(context.remoteAddress)}`,
      `X-Forwarded-Proto: ${context.secure ? 'https' : 'http'}`,
      `X-Forwarded-Host: ${head.hostValue}`,
    );
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** An IPv4 visitor of a dual-stack listener shows as ::ffff:a.b.c.d; targets expect a.b.c.d. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
