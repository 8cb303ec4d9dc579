import { pino, type Logger } from 'pino';

export type { Logger };

/** The structured (JSON) logger every part writes to. */
export function createLogger(level: string, name = 'followme'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/**
 * Times the phases of a process's start or stop, for one log line naming each phase and its
 * milliseconds (operators see where a slow start or stop spent its time), and for saying which
 * phase was running when a deadline passed.
 */
export class Phases {
  private readonly began = Date.now();
  private startedAt = this.began;
  private running: string | undefined;
  /** Milliseconds per finished phase, in the order they ran. */
  readonly ms: Record<string, number> = {};

  /** Ends the phase in progress (if any) and starts `name`. */
  begin(name: string): void {
    this.end();
    this.running = name;
  }

  /** Ends the phase in progress. */
  end(): void {
    const now = Date.now();
    if (this.running !== undefined) this.ms[this.running] = (this.ms[this.running] ?? 0) + now - this.startedAt;
    this.running = undefined;
    this.startedAt = now;
  }

  /** The phase in progress and how long it has run, e.g. "handing partitions on (12034 ms)". */
  get current(): string | undefined {
    return this.running === undefined ? undefined : `${this.running} (${Date.now() - this.startedAt} ms)`;
  }

  /** Milliseconds since the first phase began. */
  get total(): number {
    return Date.now() - this.began;
  }
}
