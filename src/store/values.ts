// Conversions between the values the dialects return and the ones the repositories expose.
// SQLite hands back 0/1 for booleans and ISO text for times; PostgreSQL hands back booleans,
// Dates and (with our int8 parser) bigints. Repositories read every column through these.

/** A time as stored: ISO-8601 UTC text in SQLite, timestamptz in PostgreSQL (given as the same text). */
export function timeValue(date: Date): string {
  return date.toISOString();
}

export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function toDateOrNull(value: Date | string | null): Date | null {
  return value === null ? null : toDate(value);
}

export function toBool(value: boolean | number): boolean {
  return value === true || value === 1;
}

/** An integer column that fits in a JS number (ids, ports, limits, counts). */
export function toNumber(value: number | bigint | string): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toNumberOrNull(value: number | bigint | string | null): number | null {
  return value === null ? null : toNumber(value);
}

/** A 64-bit counter, read exactly (the queries select counters as text). */
export function toBigInt(value: number | bigint | string | null): bigint {
  if (value === null) return 0n;
  return typeof value === 'bigint' ? value : BigInt(value);
}
