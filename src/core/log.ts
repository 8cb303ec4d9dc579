import { pino, type Logger } from 'pino';

export type { Logger };

/** The structured (JSON) logger every part writes to. */
export function createLogger(level: string, name = 'followme'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
