// Zod building blocks shared by the server and client schemas. Every block carries the exact
// message an operator sees, and none of them echoes the offending value (it may be a secret).
// Numbers also accept digit strings, which is how values arrive from the environment and flags.

import * as z from 'zod';
import type { LogLevel } from '../log.ts';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './duration.ts';
import { type HostPort, isHost, parseHostPort } from './host-port.ts';
import { unknownKeyMessages } from './problems.ts';

export const LOG_LEVELS = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const satisfies readonly LogLevel[];

const COLON_PAIRS = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/i;
const BARE_HEX = /^[0-9a-f]{64}$/i;

/** `message` for a wrong value, `required` for a missing one. */
function say(message: string, required = 'required') {
  return (issue: { input?: unknown }) => (issue.input === undefined ? required : message);
}

function digitsToNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
}

/** A group of settings; unknown keys are errors, with a suggestion when one looks like a typo. */
export function section<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? unknownKeyMessages(issue.keys, known)
        : say('expected a mapping of settings (key: value)')(issue),
  });
}

export function integer(min: number, max: number, message = `must be an integer ${min}–${max}`) {
  const error = say(message);
  return z.preprocess(
    digitsToNumber,
    z.number({ error }).int({ error }).min(min, { error }).max(max, { error }),
  );
}

export function port() {
  return integer(1, 65535, 'must be 1–65535');
}

export function duration() {
  const hint = 'expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)';
  return z.preprocess(
    (value) => parseDuration(value) ?? value,
    z
      .number({ error: say(hint) })
      .int({ error: hint })
      .min(1, { error: 'must be at least 1ms' })
      .max(MAX_DURATION_MS, { error: `must be at most ${formatDuration(MAX_DURATION_MS)}` }),
  );
}

export function bool() {
  return z.boolean({ error: say('expected true or false') });
}

export function host() {
  return z
    .string({ error: say('expected a host name or IP address') })
    .refine(isHost, { error: 'expected a host name or IP address' });
}

export function filePath() {
  return z.string({ error: say('expected a file path') }).min(1, { error: 'expected a file path' });
}

/** `host:port` (IPv6 as `[::1]:22`), parsed into its parts. */
export function hostPort(required?: string) {
  return z.string({ error: say('expected host:port', required) }).transform((text, ctx): HostPort => {
    const parsed = parseHostPort(text.trim());
    if (parsed) return parsed;
    const bareIpv6 = !text.startsWith('[') && text.split(':').length > 2;
    ctx.addIssue({
      code: 'custom',
      message: bareIpv6 ? 'expected host:port (write IPv6 in brackets, like [::1]:22)' : 'expected host:port',
    });
    return z.NEVER;
  });
}

export function logLevel() {
  return z.enum(LOG_LEVELS, { error: say(`must be one of ${LOG_LEVELS.join(', ')}`) });
}

/** A license key. Its value never appears in a message. */
export function licenseKey(required?: string) {
  return z
    .string({ error: say('expected a string (put the key in quotes)', required) })
    .min(16, { error: 'must be at least 16 characters (generate one with "muon keygen")' });
}

/**
 * A SHA-256 certificate fingerprint: 32 hex pairs separated by colons, or 64 hex digits, either
 * case, optionally prefixed by `sha256:`. Normalised to `AB:CD:…`, the form the server prints.
 */
export function fingerprint() {
  const message = 'expected a SHA-256 fingerprint: 32 hex pairs like AB:CD:… (as printed by "muon server")';
  return z.string({ error: say(message) }).transform((text, ctx) => {
    const body = text.trim().replace(/^sha-?256:/i, '');
    const hex = COLON_PAIRS.test(body) ? body.replaceAll(':', '') : BARE_HEX.test(body) ? body : undefined;
    if (hex === undefined) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return (hex.toUpperCase().match(/../g) ?? []).join(':');
  });
}
