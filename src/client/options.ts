// What a TunnelClient needs to run; the CLI builds this from config, tests build it directly.

import type { Logger } from '../log.ts';
import type { ClientTlsOptions } from '../net/dial.ts';

export type { ClientTlsOptions };

export interface TunnelClientOptions {
  server: { host: string; port: number };
  /** TLS verification, or false for plain TCP (only when configured explicitly). */
  tls: ClientTlsOptions | false;
  licenseKey: string;
  logger: Logger;
  /** Idle proxy channels kept open, ready for the next visitor. */
  minIdleChannels: number;
  /** Upper bound on proxy channels (idle + busy). */
  maxChannels: number;
  /** Timeout for dialling a target service. */
  targetConnectTimeoutMs: number;
  /**
   * How long the server may take over each step of setting up a tunnel connection (command or
   * proxy channel): TCP and TLS, its greeting (CHALLENGE), its answer to AUTH. Past it the attempt
   * fails (MUON_ERR_HANDSHAKE_TIMEOUT for a late greeting or answer) and the client retries.
   */
  handshakeTimeoutMs: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  maxFrameSize: number;
  /**
   * Carry every session as a stream of one multiplexed carrier when the server allows it (the
   * default), instead of one proxy channel per session.
   */
  mux: boolean;
  /**
   * Offer raw sessions when the kernel relay is built here (Features.RAW on a plain tunnel,
   * SEALED on a TLS one): the server may then carry a TCP visitor without speed limits on a
   * pooled channel of its own, whose bytes the relay's thread moves instead of the event loop
   * (docs/architecture.md, "Raw sessions and the kernel relay").
   */
  raw: boolean;
}

export const CLIENT_DEFAULTS = {
  minIdleChannels: 8,
  maxChannels: 16_384,
  targetConnectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  reconnectInitialDelayMs: 500,
  reconnectMaxDelayMs: 30_000,
  maxFrameSize: 1024 * 1024,
  mux: true,
  raw: true,
} as const satisfies Partial<TunnelClientOptions>;
