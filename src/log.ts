import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks in every record. Tokens ride in query strings and headers; a leaked one is
 * a leaked session, so they never reach a log.
 */
const REDACT_PATHS = [
  'authorization',
  'token',
  'tok',
  'secret',
  'secretKey',
  'req.headers.authorization',
  'req.query.tok',
  'req.query.token',
  '*.authorization',
  '*.token',
  '*.tok',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level. @default 'info' */
  level?: string;
  /** Fields on every record, e.g. `{ node }`. */
  base?: Record<string, unknown>;
  /** Destination stream; stdout when absent. Tests pass a stream to read records back. */
  destination?: pino.DestinationStream;
}

/** Creates the one root logger of a node. Components get children of it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/**
 * Removes the token from a URL before it is logged: sockets carry it as `tok=` or `token=`.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:tok|token)=)[^&]*/g, '$1[redacted]');
}
