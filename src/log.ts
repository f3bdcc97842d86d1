// Structured logging (JSON lines via pino). Secrets are redacted by path as a second line of
// defence; the code never passes a key or password to the logger in the first place.

import { pino } from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

const REDACT = ['key', 'licenseKey', 'password', '*.key', '*.licenseKey', '*.password'];

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: null,
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

export const silentLogger: Logger = createLogger('silent');
