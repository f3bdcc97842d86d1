// What a TunnelServer needs to run; the CLI builds this from config, tests build it directly.

import type { Logger } from '../log.ts';
import type { StreamIdleLimits } from '../net/stream-idle-watch.ts';
import type { Directory } from './directory.ts';
import type { TunnelObserver } from './observer.ts';

export interface ListenAddress {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface TunnelServerOptions {
  directory: Directory;
  logger: Logger;
  /** Receives sessions, visitors and traffic as they happen (metrics, statistics). */
  observer?: TunnelObserver;
  /** TLS tunnel listener (command and proxy channels). */
  tls?: ListenAddress & { cert: string; key: string };
  /** Plain-TCP tunnel listener; only when configured explicitly. */
  plain?: ListenAddress;
  /** Address that public mapping ports bind to. */
  publicHost: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** How long a visitor may wait for the client to reach the target. */
  connectTimeoutMs: number;
  maxFrameSize: number;
  /** Idle proxy channels above `minIdleChannels` are closed after this long. */
  idleChannelTimeoutMs: number;
  /** Idle proxy channels a session keeps; a finished channel beyond this is closed, not pooled. */
  maxIdleChannels: number;
  /** Failed handshakes one address may make per minute before it is refused for the rest of that minute. */
  maxAuthFailuresPerMinute: number;
  /** Tunnel connections allowed to be mid-handshake at once; more are refused. */
  maxPendingHandshakes: number;
  /** Proxy channels (idle + busy) one client session may hold; more are refused. */
  maxChannelsPerSession: number;
  /** Raw sessions (kernel relay: plain or sealed) this server carries at once; 0: none. */
  maxRawSessions: number;
  /**
   * A mapping's visitors get raw sessions while its recent sessions moved at least this many
   * bytes on average (its first visitors always may); 0: every visitor that can have one.
   */
  rawSessionMinBytes: number;
  /** A UDP visitor's session ends after this long without a datagram either way (both sides). */
  udpIdleTimeoutMs: number;
  /**
   * A TCP session (TCP mapping or HTTP visitor) ends after this long without a byte either way
   * once either side has half-closed: a visitor that sent FIN and left, in front of a silent target.
   */
  halfClosedTimeoutMs: number;
  /** Any TCP session ends after this long without a byte either way; unset: never (idle SSH sessions live on). */
  tcpIdleTimeoutMs?: number | undefined;
}

export const SERVER_DEFAULTS = {
  publicHost: '0.0.0.0',
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 45_000,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxFrameSize: 1024 * 1024,
  idleChannelTimeoutMs: 120_000,
  maxIdleChannels: 256,
  maxAuthFailuresPerMinute: 20,
  maxPendingHandshakes: 1024,
  maxChannelsPerSession: 20_000,
  maxRawSessions: 256,
  rawSessionMinBytes: 1024 * 1024,
  udpIdleTimeoutMs: 60_000,
  halfClosedTimeoutMs: 60_000,
} as const satisfies Partial<TunnelServerOptions>;

/** The TCP session timeouts, as each proxy channel's relay watches them. */
export function tcpIdleLimits(options: TunnelServerOptions): StreamIdleLimits {
  return { halfClosedMs: options.halfClosedTimeoutMs, idleMs: options.tcpIdleTimeoutMs };
}
