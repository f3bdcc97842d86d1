// The narrow interface through which the tunnel server learns about licenses and mappings.
// The tunnel core never imports a database: a store (or the static config) implements this,
// and announces changes so the server can reconcile live sessions at once.

export type AccessAction = 'allow' | 'deny';

export interface AccessRule {
  action: AccessAction;
  /** An address or CIDR block, IPv4 or IPv6 ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"). */
  cidr: string;
}

/** A mapping's security group: who may connect to it, decided by the visitor's socket address. */
export interface SecurityPolicy {
  /** The group's id, for logs. */
  id: string;
  /** In evaluation order (ascending priority): the first rule that matches decides. */
  rules: readonly AccessRule[];
  /** What happens to a visitor no rule matches. */
  defaultAction: AccessAction;
}

/** Traffic limits of a license or a mapping; null or absent means unlimited. */
export interface TrafficLimits {
  /** Bytes per second from visitors towards the target, over all their connections together. */
  uploadLimit?: number | null;
  /** Bytes per second from the target back to visitors, over all their connections together. */
  downloadLimit?: number | null;
  /** Visitor connections open at once; more are refused. */
  maxConnections?: number | null;
}

export interface MappingRecord extends TrafficLimits {
  id: string;
  /**
   * 'udp': a session per visitor address, one datagram per DATA frame (see udp-visitors.ts).
   * 'http'/'https': reached by host name on the server's shared HTTP(S) port (src/http), whose
   * router opens streams through TunnelServer.openStream; such a mapping has no port of its own.
   */
  protocol: 'tcp' | 'udp' | 'http' | 'https';
  /** The public port; 0 for http and https (their visitors carry the shared port instead). */
  publicPort: number;
  targetHost: string;
  targetPort: number;
  enabled: boolean;
  /** Null or absent: every visitor may connect. */
  security?: SecurityPolicy | null;
  /** TCP only: the client writes this PROXY protocol header to the target first. Null or absent: none. */
  proxyProtocol?: 'v1' | 'v2' | null;
}

export interface LicenseRecord extends TrafficLimits {
  id: string;
  name: string;
  /** The secret license key. Never logged. */
  key: string;
  /** False when the license or its owner is disabled. */
  enabled: boolean;
  mappings: readonly MappingRecord[];
}

export interface Directory {
  /** The license whose key hashes to `keyId` (see protocol/handshake.ts keyIdOf). */
  findByKeyId(keyId: Buffer): Promise<LicenseRecord | undefined>;
  /** The current state of one license, or undefined once it is deleted. */
  getLicense(id: string): Promise<LicenseRecord | undefined>;
  /**
   * Calls `listener` with a license id whenever that license, its mappings, or the security
   * groups they use change. Returns an unsubscribe.
   */
  onChange(listener: (licenseId: string) => void): () => void;
}
