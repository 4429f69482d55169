/** Structured fields attached to a log record. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The logger every tsvae library takes by injection. Libraries never print; applications (the CLI)
 * decide where records go.
 *
 * @example
 * ```ts
 * import { consoleLogger, silentLogger } from '@tsvae/core';
 * const logger = process.env.DEBUG ? consoleLogger : silentLogger;
 * logger.info('epoch done', { epoch: 3, loss: -1234.5 });
 * ```
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const noop = (): void => {};

/** A logger that drops every record (the default in every library). */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** A logger that writes to the console; meant for scripts and applications, never used by libraries. */
export const consoleLogger: Logger = Object.freeze({
  debug: (m: string, f?: LogFields) => console.debug(m, f ?? ''),
  info: (m: string, f?: LogFields) => console.info(m, f ?? ''),
  warn: (m: string, f?: LogFields) => console.warn(m, f ?? ''),
  error: (m: string, f?: LogFields) => console.error(m, f ?? ''),
});

/** A logger that keeps records in memory (for tests and for forwarding later). */
export class MemoryLogger implements Logger {
  readonly records: { level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: LogFields }[] =
    [];
  debug(message: string, fields?: LogFields): void {
    this.push('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.push('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.push('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.push('error', message, fields);
  }
  private push(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: LogFields): void {
    this.records.push(fields === undefined ? { level, message } : { level, message, fields });
  }
}
