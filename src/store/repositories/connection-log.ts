// The client connection log: one row per command-channel session, opened when a client logs in
// and closed with the code that ended it. Rows outlive their license (license_name is kept).

import type { Selectable } from 'kysely';
import type { StoreContext } from '../context.ts';
import { type Page, type PageRequest, pageOf } from '../page.ts';
import type { ClientConnectionsTable } from '../schema.ts';
import { timeValue, toDate, toDateOrNull, toNumber, toNumberOrNull } from '../values.ts';

export interface ClientConnection {
  id: number;
  /** Null once the license is deleted. */
  licenseId: number | null;
  licenseName: string;
  remoteAddress: string;
  connectedAt: Date;
  disconnectedAt: Date | null;
  /** The MUON_ERR_… code that ended the session, if any. */
  closeCode: string | null;
}

export interface ConnectionFilter extends PageRequest {
  licenseId?: number;
  /** True: still connected; false: ended. */
  open?: boolean;
  /** Connected at or after. */
  from?: Date;
  /** Connected before. */
  to?: Date;
}

function toEntry(row: Selectable<ClientConnectionsTable>): ClientConnection {
  return {
    id: toNumber(row.id),
    licenseId: toNumberOrNull(row.license_id),
    licenseName: row.license_name,
    remoteAddress: row.remote_address,
    connectedAt: toDate(row.connected_at),
    disconnectedAt: toDateOrNull(row.disconnected_at),
    closeCode: row.close_code,
  };
}

export class ConnectionLogRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async opened(entry: {
    licenseId: number;
    licenseName: string;
    remoteAddress: string;
    at?: Date;
  }): Promise<ClientConnection> {
    const at = timeValue(entry.at ?? this.#ctx.now());
    return this.#ctx.write(async (db) =>
      toEntry(
        await db
          .insertInto('client_connections')
          .values({
            license_id: entry.licenseId,
            license_name: entry.licenseName,
            remote_address: entry.remoteAddress,
            connected_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  /** Ends an open entry; a second call changes nothing. */
  async closed(id: number, options: { at?: Date; code?: string | null } = {}): Promise<void> {
    const at = timeValue(options.at ?? this.#ctx.now());
    await this.#ctx.write(async (db) => {
      await db
        .updateTable('client_connections')
        .set({ disconnected_at: at, close_code: options.code ?? null })
        .where('id', '=', id)
        .where('disconnected_at', 'is', null)
        .execute();
    });
  }

  /** At server start: sessions the last run did not close (a crash) are closed as of `at`. */
  async closeAllOpen(at: Date = this.#ctx.now(), code = 'MUON_ERR_SHUTDOWN'): Promise<number> {
    return this.#ctx.write(async (db) => {
      const result = await db
        .updateTable('client_connections')
        .set({ disconnected_at: timeValue(at), close_code: code })
        .where('disconnected_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    });
  }

  /** Newest first. */
  async list(filter: ConnectionFilter = {}): Promise<Page<ClientConnection>> {
    return this.#ctx.read((db) => {
      let query = db.selectFrom('client_connections');
      if (filter.licenseId !== undefined) query = query.where('license_id', '=', filter.licenseId);
      if (filter.open !== undefined)
        query = query.where('disconnected_at', filter.open ? 'is' : 'is not', null);
      if (filter.from) query = query.where('connected_at', '>=', timeValue(filter.from));
      if (filter.to) query = query.where('connected_at', '<', timeValue(filter.to));
      return pageOf(
        filter,
        () => query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
        (limit, offset) =>
          query
            .selectAll()
            .orderBy('connected_at', 'desc')
            .orderBy('id', 'desc')
            .limit(limit)
            .offset(offset)
            .execute(),
        toEntry,
      );
    });
  }

  /** Deletes ended entries that connected before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    return this.#ctx.write(async (db) => {
      const result = await db
        .deleteFrom('client_connections')
        .where('connected_at', '<', timeValue(before))
        .where('disconnected_at', 'is not', null)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}
