// Durations in configuration: a number of milliseconds, or a string such as `500ms`, `15s`,
// `2m`, `1h` or a combination like `1m30s`. Everything downstream works in milliseconds.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const WHOLE = /^(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h))+\s*$/;
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h)/g;
const PLAIN_NUMBER = /^\s*\d+(?:\.\d+)?\s*$/;

/** 596h: a round bound below 2^31-1 ms, beyond which setTimeout fires at once instead. */
export const MAX_DURATION_MS = 596 * 3_600_000;

/**
 * Milliseconds for a duration written as a number or a string; undefined when the text is not
 * a duration. Fractions are allowed (`1.5s`) and the result is rounded to whole milliseconds.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  if (PLAIN_NUMBER.test(value)) return Math.round(Number(value));
  if (!WHOLE.test(value)) return undefined;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return Math.round(total);
}

/** The shortest readable form of a duration (`90000` → `1m30s`), for messages and docs. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0ms';
  let rest = ms;
  let text = '';
  for (const [unit, size] of [
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
  ] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}
