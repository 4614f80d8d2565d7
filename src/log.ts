// The gateway's log: JSON lines (pino), one object per event, for a log
// collector; LOG_FORMAT=pretty makes them readable for a person at a terminal.
// Credentials never reach it: the fields that could hold one are redacted
// wherever they appear, so a careless call cannot leak a secret.
import { pino, type Logger } from 'pino';

export type { Logger };

export type LogOptions = {
  /** pino's levels: fatal, error, warn, info, debug, trace, or silent. */
  level: string;
  format: 'json' | 'pretty';
  /** Standard error instead of standard output (why a process could not start). */
  toStderr?: boolean;
};

/** Field names that may carry a credential, at any of the first levels of a logged object. */
const SECRET_FIELDS = ['x-api-secret', 'authorization', 'client_secret', 'clientSecret', 'secret', 'token', 'previous_token', 'user_token', 'password'];
const REDACT = SECRET_FIELDS.flatMap((field) => [`["${field}"]`, `*["${field}"]`, `*.*["${field}"]`]);

export function createLogger({ level, format, toStderr = false }: LogOptions): Logger {
  const options = {
    level,
    base: { service: 'assistant-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  if (format === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', destination: toStderr ? 2 : 1 } } });
  }
  // Access lines are written on every request, so without blocking the event loop on a slow pipe
  // (pino flushes what is pending when the process exits); why a process could not start, at once.
  return pino(options, pino.destination({ dest: toStderr ? 2 : 1, sync: toStderr }));
}

/** For apps built without a log (tests): nothing is written. */
export const silentLogger: Logger = pino({ level: 'silent' });
