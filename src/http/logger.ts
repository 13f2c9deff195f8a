import pino, { type Logger } from 'pino';
import { redact, redactString, redactUrl } from '../lib/redact.js';

/**
 * Marks a log object whose every string the caller has already redacted (the per-request line), so the
 * generic deep-copying redactor does not run on it again. Only for fixed-shape objects built in code.
 */
export const PRE_REDACTED = Symbol('preRedacted');

/** Bindings that cannot hold a secret or a control character: `{reqId}` with a plain id (no `.`, `_` or space). */
const PLAIN_ID = /^[A-Za-z0-9:-]{1,128}$/;
const plainBindings = (b: pino.Bindings): boolean => {
  for (const k in b) if (k !== 'reqId' || typeof b[k] !== 'string' || !PLAIN_ID.test(b[k] as string)) return false;
  return true;
};

/** The process logger: every log object passes the shared redaction (DESIGN §5) before it is written. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const logger = pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => ((obj as { [PRE_REDACTED]?: true })[PRE_REDACTED] ? obj : redact(obj) as Record<string, unknown>),
    },
    serializers: {
      err: (err: Error) => ({ type: err?.name, message: err?.message, stack: err?.stack, code: (err as { code?: string })?.code }),
      url: (u: string) => redactUrl(u),
    },
    hooks: {
      // The message string is redacted too: it may interpolate user input, and so are the values it
      // interpolates (`%s`, `%o`, `%j`). A first-position object is the merge object: `log` redacts it
      // (after pino has put an Error under `err`).
      logMethod(args, method) {
        const a = (args as unknown[]).map((x, i) => (typeof x === 'string' || i > 0 ? redact(x) : x));
        // `log.error(err)` alone: pino would copy err.message into `msg` as it is.
        if (a[0] instanceof Error && typeof a[1] !== 'string') a.splice(1, 0, redactString(a[0].message));
        method.apply(this, a as Parameters<typeof method>);
      },
    },
  }, destination);
  // Child bindings (`log.child({...})`, `setBindings`) bypass `formatters.log`, and pino applies
  // `formatters.bindings` to the root only; so they are redacted here. Children inherit these methods
  // through their prototype, grandchildren included.
  const proto = Object.getPrototypeOf(logger) as Logger;
  const child = proto.child as unknown as (this: unknown, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const setBindings = proto.setBindings as unknown as (this: unknown, bindings: pino.Bindings) => void;
  Object.assign(logger, {
    child(this: unknown, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
      // Fastify makes a child per request: skip the deep copy when there is nothing to redact.
      return child.call(this, plainBindings(bindings) ? bindings : redact(bindings) as pino.Bindings, options);
    },
    setBindings(this: unknown, bindings: pino.Bindings) {
      setBindings.call(this, redact(bindings) as pino.Bindings);
    },
  });
  return logger;
}
