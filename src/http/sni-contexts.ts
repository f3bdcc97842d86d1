// TLS secure contexts for the HTTPS listener, one per domain with a certificate, chosen by the
// server name the visitor sends (SNI): the longest registered domain the name falls under. A
// context is built once and kept until its domain's certificate or key changes.

import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../log.ts';
import { baseDomainOf, normalizeHostname } from './host-names.ts';
import type { DomainRecord } from './routes.ts';

interface Entry {
  cert: string;
  key: string;
  context: SecureContext;
}

export class SniContexts {
  readonly #log: Logger;
  #byName = new Map<string, Entry>();

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Takes the current domains: new or changed certificates get a new context, the rest keep theirs. */
  update(domains: readonly DomainRecord[]): void {
    const next = new Map<string, Entry>();
    for (const domain of domains) {
      if (!domain.tls) continue;
      const { cert, key } = domain.tls;
      const previous = this.#byName.get(domain.name);
      if (previous && previous.cert === cert && previous.key === key) {
        next.set(domain.name, previous);
        continue;
      }
      try {
        next.set(domain.name, {
          cert,
          key,
          context: createSecureContext({ cert, key, minVersion: 'TLSv1.2' }),
        });
      } catch (error) {
        // The API checks certificates on upload; this guards against a row edited by hand.
        this.#log.error(
          { code: 'MUON_ERR_CONFIG', domain: domain.name, err: (error as Error).message },
          'cannot use the certificate of a domain',
        );
      }
    }
    this.#byName = next;
  }

  /** The context for a TLS server name, or undefined (the handshake then fails). */
  contextFor(serverName: string): SecureContext | undefined {
    return baseDomainOf(normalizeHostname(serverName), this.#byName)?.context;
  }

  get size(): number {
    return this.#byName.size;
  }
}
