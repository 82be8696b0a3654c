import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { LogDestination } from './log-destination.js';

export type { Logger };

/**
 * pino JSON logger. Secrets never reach it: request logging only records method, url and
 * status (see app.ts), and these paths are redacted in case an object carrying them is logged.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream, format: 'json' | 'pretty' = 'json'): Logger {
  const out = (destination ?? stdoutDestination()) as pino.DestinationStream;
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
    format === 'pretty' ? prettified(out) : out,
  );
}

/** Readable lines (pino-pretty), one per record, written to the same non-blocking destination. */
function prettified(out: pino.DestinationStream): pino.DestinationStream {
  const pretty = prettyFactory({ colorize: Boolean(process.stdout.isTTY), translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  return { write: (line: string) => out.write(pretty(line)) };
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
