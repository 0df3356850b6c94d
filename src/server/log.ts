// Structured logging: one JSON object per line on stderr, so stdout stays free for the banner.
import { pino } from 'pino';
import type { LogLevel } from './config.ts';

export type Logger = pino.Logger;

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: false }));
}
