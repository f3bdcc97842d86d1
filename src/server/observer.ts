// What the tunnel core reports to the layers above it (metrics, traffic statistics, connection
// logs), without knowing about them. Every method is called synchronously on the hot path's
// edges (not per chunk), so implementations must be cheap and must not throw.

import type { ErrorCode } from '../errors.ts';
import type { LicenseRecord, MappingRecord } from './directory.ts';

/** What a visitor came in over: a mapping's protocol (http/https: the shared port's). */
export type VisitorProtocol = MappingRecord['protocol'];

export interface TunnelObserver {
  sessionOpened(license: LicenseRecord, remoteAddress: string): void;
  sessionClosed(license: LicenseRecord, code: ErrorCode, reason: string): void;
  /** A tunnel connection failed its handshake (bad key, garbage, timeout, rate limit). */
  handshakeFailed(code: ErrorCode, remoteAddress: string): void;
  visitorOpened(mapping: MappingRecord): void;
  /** The client reached the target; `setupMs` counts from the visitor's accept. */
  visitorConnected(mapping: MappingRecord, setupMs: number): void;
  visitorClosed(mapping: MappingRecord): void;
  /**
   * A visitor was turned away before it reached the target, for the reason `code` names: the
   * security group, a connection limit, no client to serve it, no file descriptor left, or the
   * client could not reach the target (in time). `protocol` and `publicPort` say where it came in
   * (for http/https, the shared port). Called once per refused visitor — for UDP, once per datagram
   * of an address that gets no session — and never for a visitor that leaves on its own.
   */
  visitorRefused(code: ErrorCode, protocol: VisitorProtocol, publicPort: number): void;
  /**
   * Bytes moved for a mapping since the last report: `bytesIn` visitor → target, `bytesOut`
   * target → visitor. Reported when a visitor leaves and once per heartbeat interval for
   * visitors still connected, so long-lived connections are counted as they go.
   */
  traffic(license: LicenseRecord, mapping: MappingRecord, bytesIn: number, bytesOut: number): void;
}

const noop = () => {};

export const NULL_OBSERVER: TunnelObserver = {
  sessionOpened: noop,
  sessionClosed: noop,
  handshakeFailed: noop,
  visitorOpened: noop,
  visitorConnected: noop,
  visitorClosed: noop,
  visitorRefused: noop,
  traffic: noop,
};

/** One observer that forwards every report to each of `observers`, in order. */
export function combineObservers(...observers: TunnelObserver[]): TunnelObserver {
  const each =
    <K extends keyof TunnelObserver>(key: K) =>
    (...args: Parameters<TunnelObserver[K]>) => {
      for (const o of observers) (o[key] as (...a: Parameters<TunnelObserver[K]>) => void)(...args);
    };
  return {
    sessionOpened: each('sessionOpened'),
    sessionClosed: each('sessionClosed'),
    handshakeFailed: each('handshakeFailed'),
    visitorOpened: each('visitorOpened'),
    visitorConnected: each('visitorConnected'),
    visitorClosed: each('visitorClosed'),
    visitorRefused: each('visitorRefused'),
    traffic: each('traffic'),
  };
}
