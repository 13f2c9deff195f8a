import pino, { type Logger } from 'pino';
import { redact, redactUrl } from '../lib/redact.js';

/** The process logger: every log object passes the shared redaction (DESIGN §5) before it is written. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => redact(obj) as Record<string, unknown>,
    },
    serializers: {
      err: (err: Error) => ({ type: err?.name, message: err?.message, stack: err?.stack, code: (err as { code?: string })?.code }),
      url: (u: string) => redactUrl(u),
    },
    hooks: {
      // The message string is redacted too: it may interpolate user input.
      logMethod(args, method) {
        const a = args as unknown[];
        method.apply(this, a.map((x) => (typeof x === 'string' ? (redact(x) as string) : x)) as Parameters<typeof method>);
      },
    },
  }, destination);
}
