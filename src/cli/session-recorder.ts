// Records client sessions in the store as the tunnel reports them: the license's online flag
// and last-seen time, and one connection-log row per session. The writes run in the background
// (the tunnel never waits for the database); close() waits for those still under way.

import type { Logger } from '../log.ts';
import type { LicenseRecord } from '../server/directory.ts';
import { NULL_OBSERVER, type TunnelObserver } from '../server/observer.ts';
import type { Store } from '../store/store.ts';

export class SessionRecorder {
  readonly observer: TunnelObserver;
  readonly #store: Store;
  readonly #log: Logger;
  /** Connection-log rows of live sessions per license, oldest first (a takeover opens before it closes). */
  readonly #open = new Map<string, Array<Promise<number | undefined>>>();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#log = logger;
    this.observer = {
      ...NULL_OBSERVER,
      sessionOpened: (license, remoteAddress) => this.#opened(license, remoteAddress),
      sessionClosed: (license, code) => this.#closed(license, code),
    };
  }

  /** After a crash the store may still show sessions as live: mark them ended. */
  async recover(): Promise<void> {
    await this.#store.licenses.markAllOffline();
    await this.#store.connections.closeAllOpen(new Date(), 'MUON_ERR_SHUTDOWN');
  }

  #opened(license: LicenseRecord, remoteAddress: string): void {
    const id = Number(license.id);
    const row = this.#track(
      (async () => {
        await this.#store.licenses.setOnline(id, true);
        return (
          await this.#store.connections.opened({ licenseId: id, licenseName: license.name, remoteAddress })
        ).id;
      })(),
    );
    const rows = this.#open.get(license.id) ?? [];
    rows.push(row);
    this.#open.set(license.id, rows);
  }

  #closed(license: LicenseRecord, code: string): void {
    const rows = this.#open.get(license.id) ?? [];
    const row = rows.shift();
    if (rows.length === 0) this.#open.delete(license.id);
    const stillOnline = rows.length > 0;
    void this.#track(
      (async () => {
        const connectionId = await row;
        if (connectionId !== undefined) await this.#store.connections.closed(connectionId, { code });
        if (!stillOnline) await this.#store.licenses.setOnline(Number(license.id), false);
        return undefined;
      })(),
    );
  }

  #track(work: Promise<number | undefined>): Promise<number | undefined> {
    const safe = work.catch((error: unknown) => {
      this.#log.warn({ err: (error as Error).message }, 'could not record a client session');
      return undefined;
    });
    this.#pending.add(safe);
    void safe.finally(() => this.#pending.delete(safe));
    return safe;
  }

  /** Waits for the writes under way. */
  async close(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
