// Traffic statistics: bytes in (visitor → target) and out (target → visitor) per mapping, in
// minute buckets that roll up to hour, day and month buckets (UTC). Counters are 64-bit integers
// added by the database itself and read back as text, so no value is ever rounded through a
// JS number; the API takes and returns bigint.

import { type Kysely, sql } from 'kysely';
import { MuonError } from '../../errors.ts';
import type { StoreContext } from '../context.ts';
import type { Database, Granularity } from '../schema.ts';
import { timeValue, toBigInt, toDate, toNumber } from '../values.ts';

export interface TrafficSample {
  mappingId: number;
  licenseId: number;
  /** When the bytes were counted; they go to the minute bucket containing this time. */
  at: Date;
  bytesIn: bigint | number;
  bytesOut: bigint | number;
}

export interface TrafficBucket {
  bucketStart: Date;
  bytesIn: bigint;
  bytesOut: bigint;
}

export interface TrafficQuery {
  /** One mapping, or (summed over its mappings) one license; neither = everything. */
  mappingId?: number;
  licenseId?: number;
  /** Summed over every license of this user. */
  ownerId?: number;
  granularity: Granularity;
  /** Buckets starting at or after this time. */
  from?: Date;
  /** Buckets starting before this time. */
  to?: Date;
}

export interface RollUpOptions {
  now?: Date;
  /**
   * Recompute only the buckets whose period starts at or after this time (rounded down to each
   * level's period). Default: every bucket. A periodic job passes its previous run's time.
   */
  since?: Date;
  /** After rolling up, delete rows older than this many milliseconds, by granularity. */
  retain?: Partial<Record<'minute' | 'hour' | 'day', number>>;
}

export interface RollUpResult {
  /** Buckets written per target granularity. */
  hour: number;
  day: number;
  month: number;
  /** Rows deleted by retention. */
  pruned: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const CHUNK = 500;

function floorTo(granularity: Granularity, ms: number): number {
  const step = granularity === 'minute' ? MINUTE : granularity === 'hour' ? HOUR : DAY;
  if (granularity === 'month') {
    const d = new Date(ms);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  return ms - (((ms % step) + step) % step);
}

export function bucketStart(granularity: Granularity, at: Date): Date {
  return new Date(floorTo(granularity, at.getTime()));
}

const LEVELS: readonly { source: Granularity; target: Granularity }[] = [
  { source: 'minute', target: 'hour' },
  { source: 'hour', target: 'day' },
  { source: 'day', target: 'month' },
];

const MAX_INT8 = 2n ** 63n - 1n;

function counter(field: string, value: bigint | number): bigint {
  const n = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (n < 0n || n > MAX_INT8) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', `${field}: must be a non-negative 64-bit integer`);
  }
  return n;
}

interface Sum {
  mappingId: number;
  licenseId: number;
  bucket: number;
  bytesIn: bigint;
  bytesOut: bigint;
}

function addTo(sums: Map<string, Sum>, s: Sum): void {
  const key = `${s.mappingId}/${s.bucket}`;
  const current = sums.get(key);
  if (current) {
    current.bytesIn += s.bytesIn;
    current.bytesOut += s.bytesOut;
  } else {
    sums.set(key, { ...s });
  }
}

/**
 * Where retention cuts each level: `now - retain`, rounded down to the period of the level above,
 * so a period is dropped whole. A cut also applies to the levels below: were an hour dropped while
 * its minutes stayed, a later roll-up would rebuild the hour from them, and then its day from a
 * partial set of hours.
 */
function cutoffs(now: number, retain: RollUpOptions['retain']): [Granularity, number][] {
  const own = LEVELS.map(({ source, target }) => {
    const keep = retain?.[source as 'minute' | 'hour' | 'day'];
    return keep === undefined ? undefined : floorTo(target, now - keep);
  });
  const result: [Granularity, number][] = [];
  LEVELS.forEach(({ source }, i) => {
    const above = own.slice(i).filter((c): c is number => c !== undefined);
    if (above.length > 0) result.push([source, Math.max(...above)]);
  });
  return result;
}

export class TrafficRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Adds samples to their minute buckets, exactly (the database does the 64-bit addition).
   * Samples of licenses that no longer exist are dropped.
   */
  async add(batch: readonly TrafficSample[]): Promise<void> {
    const sums = new Map<string, Sum>();
    for (const sample of batch) {
      addTo(sums, {
        mappingId: sample.mappingId,
        licenseId: sample.licenseId,
        bucket: floorTo('minute', sample.at.getTime()),
        bytesIn: counter('bytesIn', sample.bytesIn),
        bytesOut: counter('bytesOut', sample.bytesOut),
      });
    }
    if (sums.size === 0) return;
    await this.#ctx.write(async (db) => {
      // A license deleted since its bytes were counted takes its statistics with it: drop its
      // samples rather than fail the whole batch on the foreign key.
      const licenseIds = [...new Set([...sums.values()].map((s) => s.licenseId))];
      const existing = new Set<number>();
      for (let i = 0; i < licenseIds.length; i += CHUNK) {
        const rows = await db
          .selectFrom('licenses')
          .select('id')
          .where('id', 'in', licenseIds.slice(i, i + CHUNK))
          .execute();
        for (const row of rows) existing.add(toNumber(row.id));
      }
      const kept = [...sums.values()].filter((s) => existing.has(s.licenseId));
      if (kept.length > 0) await this.#upsert(db, 'minute', kept, 'add');
    });
  }

  /** Buckets in time order; for a license, each bucket sums its mappings. */
  async series(query: TrafficQuery): Promise<TrafficBucket[]> {
    const rows = await this.#ctx.read((db) =>
      this.#filtered(db, query)
        .select([
          'bucket_start',
          sql<string>`cast(sum(bytes_in) as text)`.as('bytes_in'),
          sql<string>`cast(sum(bytes_out) as text)`.as('bytes_out'),
        ])
        .groupBy('bucket_start')
        .orderBy('bucket_start')
        .execute(),
    );
    return rows.map((r) => ({
      bucketStart: toDate(r.bucket_start),
      bytesIn: toBigInt(r.bytes_in),
      bytesOut: toBigInt(r.bytes_out),
    }));
  }

  /** The sum over the matching buckets of one granularity. */
  async totals(query: TrafficQuery): Promise<{ bytesIn: bigint; bytesOut: bigint }> {
    const row = await this.#ctx.read((db) =>
      this.#filtered(db, query)
        .select([
          sql<string | null>`cast(sum(bytes_in) as text)`.as('bytes_in'),
          sql<string | null>`cast(sum(bytes_out) as text)`.as('bytes_out'),
        ])
        .executeTakeFirst(),
    );
    return { bytesIn: toBigInt(row?.bytes_in ?? null), bytesOut: toBigInt(row?.bytes_out ?? null) };
  }

  /**
   * Recomputes hour buckets from minutes, days from hours and months from days, then applies
   * retention. Idempotent: a bucket is set to the sum of its sources, never added to. Retention
   * deletes whole periods of the level above, and the levels below with them (see cutoffs()), so
   * a bucket that is recomputed always has all of its sources.
   */
  async rollUp(options: RollUpOptions = {}): Promise<RollUpResult> {
    const now = (options.now ?? this.#ctx.now()).getTime();
    const result: RollUpResult = { hour: 0, day: 0, month: 0, pruned: 0 };
    await this.#ctx.write(async (db) => {
      for (const { source, target } of LEVELS) {
        let query = db
          .selectFrom('traffic_stats')
          .select([
            'mapping_id',
            'license_id',
            'bucket_start',
            sql<string>`cast(bytes_in as text)`.as('bytes_in'),
            sql<string>`cast(bytes_out as text)`.as('bytes_out'),
          ])
          .where('granularity', '=', source);
        if (options.since) {
          query = query.where(
            'bucket_start',
            '>=',
            timeValue(new Date(floorTo(target, options.since.getTime()))),
          );
        }
        const sums = new Map<string, Sum>();
        for (const row of await query.execute()) {
          addTo(sums, {
            mappingId: toNumber(row.mapping_id),
            licenseId: toNumber(row.license_id),
            bucket: floorTo(target, toDate(row.bucket_start).getTime()),
            bytesIn: toBigInt(row.bytes_in),
            bytesOut: toBigInt(row.bytes_out),
          });
        }
        await this.#upsert(db, target, [...sums.values()], 'set');
        result[target as 'hour' | 'day' | 'month'] = sums.size;
      }
      for (const [source, cutoff] of cutoffs(now, options.retain)) {
        const deleted = await db
          .deleteFrom('traffic_stats')
          .where('granularity', '=', source)
          .where('bucket_start', '<', timeValue(new Date(cutoff)))
          .executeTakeFirst();
        result.pruned += Number(deleted.numDeletedRows);
      }
    });
    return result;
  }

  #filtered(db: Kysely<Database>, query: TrafficQuery) {
    let q = db.selectFrom('traffic_stats').where('granularity', '=', query.granularity);
    if (query.mappingId !== undefined) q = q.where('mapping_id', '=', query.mappingId);
    if (query.licenseId !== undefined) q = q.where('license_id', '=', query.licenseId);
    if (query.ownerId !== undefined) {
      const ownerId = query.ownerId;
      q = q.where('license_id', 'in', (eb) =>
        eb.selectFrom('licenses').select('licenses.id').where('licenses.owner_id', '=', ownerId),
      );
    }
    if (query.from) q = q.where('bucket_start', '>=', timeValue(query.from));
    if (query.to) q = q.where('bucket_start', '<', timeValue(query.to));
    return q;
  }

  async #upsert(
    db: Kysely<Database>,
    granularity: Granularity,
    sums: readonly Sum[],
    mode: 'add' | 'set',
  ): Promise<void> {
    for (let i = 0; i < sums.length; i += CHUNK) {
      const rows = sums.slice(i, i + CHUNK).map((s) => ({
        mapping_id: s.mappingId,
        license_id: s.licenseId,
        granularity,
        bucket_start: timeValue(new Date(s.bucket)),
        bytes_in: s.bytesIn,
        bytes_out: s.bytesOut,
      }));
      await db
        .insertInto('traffic_stats')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['mapping_id', 'granularity', 'bucket_start']).doUpdateSet((eb) =>
            mode === 'add'
              ? {
                  bytes_in: eb('traffic_stats.bytes_in', '+', eb.ref('excluded.bytes_in')),
                  bytes_out: eb('traffic_stats.bytes_out', '+', eb.ref('excluded.bytes_out')),
                }
              : { bytes_in: eb.ref('excluded.bytes_in'), bytes_out: eb.ref('excluded.bytes_out') },
          ),
        )
        .execute();
    }
  }
}
