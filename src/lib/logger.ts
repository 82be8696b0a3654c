import { pino, type Logger } from 'pino';

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
    destination as pino.DestinationStream | undefined,
  );
}
