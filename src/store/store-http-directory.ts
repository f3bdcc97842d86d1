// The store seen by the HTTP router (src/http/routes.ts): every host name of an enabled http or
// https mapping whose license, owner and domain are enabled, with the mapping's target and
// options, and every enabled domain with its certificate and key. It announces a change after any
// committed change to a license (its owner, its mappings) or to a domain.

import type { HttpDirectory, HttpRoute, RouteSnapshot } from '../http/routes.ts';
import { translate } from './db-errors.ts';
import type { Store } from './store.ts';
import { toBool, toNumber } from './values.ts';

export class StoreHttpDirectory implements HttpDirectory {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async snapshot(): Promise<RouteSnapshot> {
    const db = this.#store.db;
    try {
      const [hosts, domains] = await Promise.all([
        db
          .selectFrom('mapping_hosts as h')
          .innerJoin('port_mappings as m', 'm.id', 'h.mapping_id')
          .innerJoin('licenses as l', 'l.id', 'm.license_id')
          .innerJoin('users as u', 'u.id', 'l.owner_id')
          .innerJoin('domains as d', 'd.id', 'h.domain_id')
          .select([
            'h.hostname',
            'h.protocol',
            'm.id as mapping_id',
            'm.license_id',
            'm.target_host',
            'm.target_port',
            'm.add_forwarded_headers',
            'm.rewrite_host',
            'm.basic_auth_username',
            'm.basic_auth_hash',
          ])
          .where('m.enabled', '=', true)
          .where('l.enabled', '=', true)
          .where('u.enabled', '=', true)
          .where('d.enabled', '=', true)
          .orderBy('h.id')
          .execute(),
        db.selectFrom('domains').selectAll().where('enabled', '=', true).orderBy('id').execute(),
      ]);
      const routes = hosts.map(
        (h): HttpRoute => ({
          hostname: h.hostname,
          protocol: h.protocol,
          licenseId: String(toNumber(h.license_id)),
          mappingId: String(toNumber(h.mapping_id)),
          targetHost: h.target_host,
          targetPort: toNumber(h.target_port),
          addForwardedHeaders: toBool(h.add_forwarded_headers),
          rewriteHost: toBool(h.rewrite_host),
          basicAuth:
            h.basic_auth_username === null || h.basic_auth_hash === null
              ? null
              : { username: h.basic_auth_username, passwordHash: h.basic_auth_hash },
        }),
      );
      return {
        routes,
        domains: domains.map((d) => ({
          id: String(toNumber(d.id)),
          name: d.name,
          forceHttps: toBool(d.force_https),
          tls:
            d.certificate_pem === null || d.private_key_pem === null
              ? null
              : { cert: d.certificate_pem, key: d.private_key_pem },
        })),
      };
    } catch (error) {
      throw translate(error);
    }
  }

  onChange(listener: () => void): () => void {
    const licenses = this.#store.onLicenseChange(() => listener());
    const domains = this.#store.onDomainChange(listener);
    return () => {
      licenses();
      domains();
    };
  }
}
