// An in-memory Directory: licenses declared in the server's YAML, or built by tests.
// `update()` replaces a license and announces the change, as a store would.

import { keyIdOf } from '../protocol/handshake.ts';
import type { Directory, LicenseRecord } from './directory.ts';

export class StaticDirectory implements Directory {
  readonly #byId = new Map<string, LicenseRecord>();
  readonly #byKeyId = new Map<string, string>();
  readonly #listeners = new Set<(licenseId: string) => void>();

  constructor(licenses: Iterable<LicenseRecord> = []) {
    for (const license of licenses) this.#put(license);
  }

  #put(license: LicenseRecord): void {
    const previous = this.#byId.get(license.id);
    if (previous) this.#byKeyId.delete(keyIdOf(previous.key).toString('hex'));
    this.#byId.set(license.id, license);
    this.#byKeyId.set(keyIdOf(license.key).toString('hex'), license.id);
  }

  async findByKeyId(keyId: Buffer): Promise<LicenseRecord | undefined> {
    const id = this.#byKeyId.get(keyId.toString('hex'));
    return id === undefined ? undefined : this.#byId.get(id);
  }

  async getLicense(id: string): Promise<LicenseRecord | undefined> {
    return this.#byId.get(id);
  }

  onChange(listener: (licenseId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds or replaces a license and notifies subscribers. */
  update(license: LicenseRecord): void {
    this.#put(license);
    this.#emit(license.id);
  }

  remove(id: string): void {
    const previous = this.#byId.get(id);
    if (!previous) return;
    this.#byId.delete(id);
    this.#byKeyId.delete(keyIdOf(previous.key).toString('hex'));
    this.#emit(id);
  }

  #emit(id: string): void {
    for (const listener of this.#listeners) listener(id);
  }
}
