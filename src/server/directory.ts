// The narrow interface through which the tunnel server learns about licenses and mappings.
// The tunnel core never imports a database: a store (or the static config) implements this,
// and announces changes so the server can reconcile live sessions at once.

export interface MappingRecord {
  id: string;
  protocol: 'tcp';
  publicPort: number;
  targetHost: string;
  targetPort: number;
  enabled: boolean;
}

export interface LicenseRecord {
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
  /** Calls `listener` with a license id whenever that license or its mappings change. Returns an unsubscribe. */
  onChange(listener: (licenseId: string) => void): () => void;
}
