// How numbers and times read in the console: bytes in binary units, rates per second, dates in
// the browser's locale, and "3 min ago" for recent events.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** A byte count (a number, or a 64-bit decimal string from the API). */
export function bytes(value: number | string | bigint | null | undefined): string {
  if (value === null || value === undefined) return '–';
  let n = Number(value);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function rate(bytesPerSecond: number | null | undefined): string {
  return bytesPerSecond == null ? 'unlimited' : `${bytes(bytesPerSecond)}/s`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return dateTime(iso);
}

/** A `YYYY-MM-DD` value (a date input's, or a query parameter), else ''. */
export function dateOrEmpty(value: unknown): string {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : '';
}

/** The start of a day picked in a date input (`plusDays` later), in the browser's time zone, as ISO. */
export function localDayStart(date: string, plusDays = 0): string | undefined {
  if (!date) return undefined;
  const [y = 1970, m = 1, d = 1] = date.split('-').map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}
