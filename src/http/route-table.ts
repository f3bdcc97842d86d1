// One immutable snapshot of the routes, indexed for the request path: a host name finds its
// mapping by exact name, then by the wildcard one label up (so lookups cost the same however
// many routes there are); a name finds its domain by its longest registered suffix.

import { baseDomainOf, wildcardOf } from './host-names.ts';
import type { DomainRecord, HttpProtocol, HttpRoute, RouteSnapshot } from './routes.ts';

export class RouteTable {
  readonly #routes: Record<HttpProtocol, Map<string, HttpRoute>> = { http: new Map(), https: new Map() };
  readonly #domains = new Map<string, DomainRecord>();

  constructor(snapshot: RouteSnapshot = { routes: [], domains: [] }) {
    for (const route of snapshot.routes) this.#routes[route.protocol].set(route.hostname, route);
    for (const domain of snapshot.domains) this.#domains.set(domain.name, domain);
  }

  /** The route serving `name` (a visitor's host name, lower case) on the given listener. */
  route(protocol: HttpProtocol, name: string): HttpRoute | undefined {
    const routes = this.#routes[protocol];
    const exact = routes.get(name);
    if (exact) return exact;
    const wildcard = wildcardOf(name);
    return wildcard === undefined ? undefined : routes.get(wildcard);
  }

  /** The registered domain `name` falls under (the longest one), if any. */
  domainOf(name: string): DomainRecord | undefined {
    return baseDomainOf(name, this.#domains);
  }

  get domains(): DomainRecord[] {
    return [...this.#domains.values()];
  }
}
