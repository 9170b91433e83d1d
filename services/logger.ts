import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; every process names itself so interleaved logs stay readable. */
export function createLogger(name: string, level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level, base: { pid: process.pid, ...bindings } });
}
