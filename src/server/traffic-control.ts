// Traffic control for one client session's visitors: who may connect (the mapping's security
// group, by the visitor's socket address), how many at once (per mapping and per license), and
// how fast (speed limits shared by all connections of a mapping, and of a license). A UDP
// visitor (one address on a UDP port) counts as a connection while its session lasts. apply()
// brings it in line with the license after every directory change; limits change at once for
// live connections, rules and connection limits for the visitors that arrive next.

import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { LogInterval } from '../net/log-interval.ts';
import { RateLimit, Throttle } from '../net/rate-limit.ts';
import { AccessPolicy } from './access-policy.ts';
import type { LicenseRecord, MappingRecord, TrafficLimits } from './directory.ts';
import type { TunnelObserver } from './observer.ts';

/** At most one info/warn line per mapping or license and reason in this time; the rest at debug. */
const LOG_INTERVAL_MS = 10_000;

/** What an admitted visitor's connection answers to. */
export interface Admission {
  throttle: { upload: Throttle; download: Throttle };
  /** The visitor has gone: it no longer counts against the connection limits. Idempotent. */
  release: () => void;
}

/** A license or a mapping: its shared speed limits and its count of open visitor connections. */
class Scope {
  readonly upload = new RateLimit();
  readonly download = new RateLimit();
  readonly refusals = new LogInterval(LOG_INTERVAL_MS);
  maxConnections: number | null = null;
  open = 0;

  apply(limits: TrafficLimits): void {
    this.upload.setRate(limits.uploadLimit ?? null);
    this.download.setRate(limits.downloadLimit ?? null);
    this.maxConnections = limits.maxConnections ?? null;
  }

  get atLimit(): boolean {
    return this.maxConnections !== null && this.open >= this.maxConnections;
  }

  close(): void {
    this.upload.close();
    this.download.close();
  }
}

class MappingControl {
  readonly scope = new Scope();
  readonly throttle: Admission['throttle'];
  readonly denied = new LogInterval(LOG_INTERVAL_MS);
  policy: AccessPolicy | undefined;
  mapping: MappingRecord;

  constructor(mapping: MappingRecord, license: Scope) {
    this.mapping = mapping;
    // Both limits apply to every byte: the stricter one is the one that ends up holding.
    this.throttle = {
      upload: new Throttle([this.scope.upload, license.upload]),
      download: new Throttle([this.scope.download, license.download]),
    };
  }

  apply(mapping: MappingRecord): void {
    this.mapping = mapping;
    this.scope.apply(mapping);
    this.policy = mapping.security ? new AccessPolicy(mapping.security) : undefined;
  }
}

export class TrafficControl {
  readonly #log: Logger;
  readonly #observer: Pick<TunnelObserver, 'visitorRefused'>;
  readonly #license = new Scope();
  #licenseId: string;
  readonly #mappings = new Map<string, MappingControl>();

  /** Refusals go to `observer` (every one) and to the log (rate-limited). */
  constructor(logger: Logger, license: LicenseRecord, observer: Pick<TunnelObserver, 'visitorRefused'>) {
    this.#log = logger;
    this.#observer = observer;
    this.#licenseId = license.id;
    this.apply(license);
  }

  /** Takes the license's current limits, and its mappings' limits and security groups. */
  apply(license: LicenseRecord): void {
    this.#licenseId = license.id;
    this.#license.apply(license);
    const current = new Set<string>();
    for (const mapping of license.mappings) {
      if (!mapping.enabled) continue;
      current.add(mapping.id);
      this.#control(mapping).apply(mapping);
    }
    // Connections of a mapping that is gone keep their limits until they close (they are closed
    // with its port in the usual case); new visitors will find a fresh control.
    for (const id of this.#mappings.keys()) if (!current.has(id)) this.#mappings.delete(id);
  }

  /**
   * Decides on a visitor that just connected to `mapping`'s port, before anything is read from it
   * or sent to the client. Refused: its socket is destroyed and the result is undefined.
   */
  admit(socket: Socket, mapping: MappingRecord): Admission | undefined {
    const admission = this.admitAddress(socket.remoteAddress, mapping);
    if (!admission) socket.destroy();
    else socket.once('close', admission.release);
    return admission;
  }

  /**
   * The same decision for a visitor known only by its address (a UDP peer): refused, undefined;
   * admitted, it counts as an open connection until the admission is released.
   */
  admitAddress(remote: string | undefined, mapping: MappingRecord): Admission | undefined {
    const control = this.#control(mapping);
    if (control.policy && !control.policy.allows(remote)) {
      this.#observer.visitorRefused('MUON_ERR_ACCESS_DENIED', mapping.protocol, mapping.publicPort);
      this.#logDenied(control, mapping.publicPort, remote);
      return undefined;
    }
    const license = this.#license;
    const full = control.scope.atLimit ? control.scope : license.atLimit ? license : undefined;
    if (full) {
      this.#observer.visitorRefused('MUON_ERR_CONNECTION_LIMIT', mapping.protocol, mapping.publicPort);
      this.#logFull(full, control, mapping.publicPort, remote);
      return undefined;
    }
    control.scope.open++;
    license.open++;
    const scope = control.scope;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      scope.open--;
      license.open--;
    };
    return { throttle: control.throttle, release };
  }

  /**
   * Why admitAddress() has just refused `remote` on `mapping` (the HTTP router answers with a
   * page naming it): the security group, or else a connection limit.
   */
  refusalOf(
    remote: string | undefined,
    mapping: MappingRecord,
  ): 'MUON_ERR_ACCESS_DENIED' | 'MUON_ERR_CONNECTION_LIMIT' {
    const policy = this.#control(mapping).policy;
    return policy && !policy.allows(remote) ? 'MUON_ERR_ACCESS_DENIED' : 'MUON_ERR_CONNECTION_LIMIT';
  }

  /** Wakes any connection a speed limit holds and stops the limits' timers. */
  close(): void {
    this.#license.close();
    for (const control of this.#mappings.values()) control.scope.close();
  }

  #control(mapping: MappingRecord): MappingControl {
    let control = this.#mappings.get(mapping.id);
    if (!control) {
      control = new MappingControl(mapping, this.#license);
      control.apply(mapping);
      this.#mappings.set(mapping.id, control);
    }
    return control;
  }

  // `port`: the one the visitor came in on (an http/https mapping's record says 0: it has none).
  #logDenied(control: MappingControl, port: number, remote: string | undefined): void {
    const refused = control.denied.note();
    const { mapping } = control;
    const fields = {
      code: 'MUON_ERR_ACCESS_DENIED',
      mapping: mapping.id,
      port,
      securityGroup: mapping.security?.id,
      remote,
    };
    if (refused === undefined) this.#log.debug(fields, 'visitor refused by the security group');
    else this.#log.info({ ...fields, refused }, 'visitor refused by the security group');
  }

  #logFull(full: Scope, control: MappingControl, port: number, remote: string | undefined): void {
    const refused = full.refusals.note();
    const { mapping } = control;
    const isMapping = full === control.scope;
    const limit = full.maxConnections;
    const fields = {
      code: 'MUON_ERR_CONNECTION_LIMIT',
      ...(isMapping ? { mapping: mapping.id } : { licenseId: this.#licenseId, mapping: mapping.id }),
      port,
      limit,
      remote,
    };
    const message = isMapping
      ? `visitor refused: mapping ${mapping.id} has its limit of ${limit} connections open`
      : `visitor refused: license ${this.#licenseId} has its limit of ${limit} connections open`;
    if (refused === undefined) this.#log.debug(fields, message);
    else this.#log.warn({ ...fields, refused }, message);
  }
}
