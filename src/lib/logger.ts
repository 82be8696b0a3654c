import { pino, type Logger } from 'pino';
import { LogDestination } from './log-destination.js';

export type { Logger };

/**
 * pino JSON logger. Secrets never reach it: request logging only records method, url and
 * status (see app.ts), and these paths are redacted in case an object carrying them is logged.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["x-auth-key"]',
          'headers.authorization',
          'headers["x-auth-key"]',
          '*.custom_key',
          '*.private_key',
          'custom_key',
          'private_key',
          'token',
        ],
        censor: '[redacted]',
      },
    },
    (destination ?? stdoutDestination()) as pino.DestinationStream,
  );
}

let stdout: LogDestination | undefined;
/** One non-blocking writer for stdout, shared by every logger of the process. */
function stdoutDestination(): LogDestination {
  return (stdout ??= new LogDestination(1));
}

/** Writes what stdout's log queue still holds (at exit). */
export function flushLogs(): void {
  stdout?.flushSync();
}
