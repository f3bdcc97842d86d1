// Prometheus metrics for a running server: a TunnelObserver that turns the tunnel core's
// reports into counters, gauges and a setup-latency histogram, served as text at /metrics.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorCode } from '../errors.ts';
import type { LicenseRecord, MappingRecord } from '../server/directory.ts';
import type { TunnelObserver, VisitorProtocol } from '../server/observer.ts';

export class Metrics implements TunnelObserver {
  readonly registry = new Registry();
  readonly #clients: Gauge;
  readonly #visitorsActive: Gauge;
  readonly #visitors: Counter<'port'>;
  readonly #bytesIn: Counter<'port'>;
  readonly #bytesOut: Counter<'port'>;
  readonly #handshakeFailures: Counter<'code'>;
  readonly #refused: Counter<'code' | 'protocol' | 'port'>;
  readonly #setup: Histogram;
  #active = 0;

  /** `publicPorts` reports how many mapped ports are open right now. */
  constructor(publicPorts: () => number) {
    const registers = [this.registry];
    this.#clients = new Gauge({
      name: 'muon_clients_online',
      help: 'Clients with a live session.',
      registers,
    });
    new Gauge({
      name: 'muon_public_ports_open',
      help: 'Mapped public ports currently listening.',
      registers,
      collect() {
        this.set(publicPorts());
      },
    });
    this.#visitorsActive = new Gauge({
      name: 'muon_visitor_connections_active',
      help: 'Visitor connections open through the tunnel.',
      registers,
    });
    this.#visitors = new Counter({
      name: 'muon_visitor_connections_total',
      help: 'Visitor connections accepted, by public port.',
      labelNames: ['port'],
      registers,
    });
    this.#bytesIn = new Counter({
      name: 'muon_bytes_in_total',
      help: 'Bytes from visitors to targets, by public port.',
      labelNames: ['port'],
      registers,
    });
    this.#bytesOut = new Counter({
      name: 'muon_bytes_out_total',
      help: 'Bytes from targets to visitors, by public port.',
      labelNames: ['port'],
      registers,
    });
    this.#handshakeFailures = new Counter({
      name: 'muon_handshake_failures_total',
      help: 'Tunnel connections refused during the handshake, by error code.',
      labelNames: ['code'],
      registers,
    });
    // Labelled like the visitor counters, by public port (operator-made mappings and the two
    // shared HTTP(S) ports, so a bounded set), plus the reason and protocol: never by visitor.
    this.#refused = new Counter({
      name: 'muon_visitors_refused_total',
      help: 'Visitors turned away before reaching their target, by error code, protocol and public port.',
      labelNames: ['code', 'protocol', 'port'],
      registers,
    });
    this.#setup = new Histogram({
      name: 'muon_visitor_setup_seconds',
      help: 'Time from accepting a visitor to the client reaching its target.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  sessionOpened(_license: LicenseRecord): void {
    this.#clients.inc();
  }

  sessionClosed(_license: LicenseRecord): void {
    this.#clients.dec();
  }

  handshakeFailed(code: ErrorCode): void {
    this.#handshakeFailures.inc({ code });
  }

  /** Visitor connections open right now (for the console's dashboard). */
  get visitorsActive(): number {
    return this.#active;
  }

  visitorOpened(mapping: MappingRecord): void {
    this.#active++;
    this.#visitorsActive.inc();
    this.#visitors.inc({ port: mapping.publicPort });
  }

  visitorConnected(_mapping: MappingRecord, setupMs: number): void {
    this.#setup.observe(setupMs / 1000);
  }

  visitorClosed(_mapping: MappingRecord): void {
    this.#active--;
    this.#visitorsActive.dec();
  }

  visitorRefused(code: ErrorCode, protocol: VisitorProtocol, publicPort: number): void {
    this.#refused.inc({ code, protocol, port: publicPort });
  }

  traffic(_license: LicenseRecord, mapping: MappingRecord, bytesIn: number, bytesOut: number): void {
    this.#bytesIn.inc({ port: mapping.publicPort }, bytesIn);
    this.#bytesOut.inc({ port: mapping.publicPort }, bytesOut);
  }
}
