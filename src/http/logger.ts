import pino, { type Logger } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { redact, redactString, redactUrl } from '../lib/redact.js';

/**
 * Marks a log object whose every string the caller has already redacted (the per-request line), so the
 * generic deep-copying redactor does not run on it again. Only for fixed-shape objects built in code.
 */
export const PRE_REDACTED = Symbol('preRedacted');

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
      // No stack: a log line never carries a stack trace (DESIGN §5); type, message and code say what failed.
      err: (err: Error) => ({ type: err?.name, message: err?.message, code: (err as { code?: string })?.code }),
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
      return child.call(this, redact(bindings) as pino.Bindings, options);
    },
    setBindings(this: unknown, bindings: pino.Bindings) {
      setBindings.call(this, redact(bindings) as pino.Bindings);
    },
  });
  return logger;
}

type AnyLogger = Record<string, (...args: unknown[]) => unknown> & { level: string };

type ChildFn = (this: unknown, bindings: pino.Bindings, opts?: pino.ChildLoggerOptions) => unknown;

/**
 * Fastify's per-request child logger, made only when the request logs something. Fastify builds one for
 * every request (pino serializes its bindings at once), while most requests log nothing of their own: the
 * request line goes through the root logger with the request id in it (request-log.ts).
 */
class LazyChildLogger {
  readonly #parent: unknown;
  readonly #child: ChildFn;
  readonly #bindings: pino.Bindings;
  readonly #opts: pino.ChildLoggerOptions | undefined;
  #real: AnyLogger | undefined;

  constructor(parent: unknown, child: ChildFn, bindings: pino.Bindings, opts: pino.ChildLoggerOptions | undefined) {
    this.#parent = parent;
    this.#child = child;
    this.#bindings = bindings;
    this.#opts = opts;
  }

  #target(): AnyLogger {
    return (this.#real ??= this.#child.call(this.#parent, this.#bindings, this.#opts) as AnyLogger);
  }

  get level(): string { return this.#target().level; }
  set level(level: string) { this.#target().level = level; }
  fatal(...args: unknown[]): void { this.#target().fatal!(...args); }
  error(...args: unknown[]): void { this.#target().error!(...args); }
  warn(...args: unknown[]): void { this.#target().warn!(...args); }
  info(...args: unknown[]): void { this.#target().info!(...args); }
  debug(...args: unknown[]): void { this.#target().debug!(...args); }
  trace(...args: unknown[]): void { this.#target().trace!(...args); }
  silent(...args: unknown[]): void { this.#target().silent!(...args); }
  child(bindings: pino.Bindings, opts?: pino.ChildLoggerOptions): unknown { return this.#target().child!(bindings, opts); }
  isLevelEnabled(level: string): boolean { return this.#target().isLevelEnabled!(level) as boolean; }
  bindings(): unknown { return this.#target().bindings!(); }
  setBindings(bindings: pino.Bindings): void { this.#target().setBindings!(bindings); }
  flush(cb?: (err?: Error) => void): void { this.#target().flush!(cb); }
}

/**
 * Makes `logger.child()` (and its children's) lazy: a LazyChildLogger that builds the real child on first
 * use. Applied to the app's logger (`app.log`) so that Fastify's default child-logger factory, which calls
 * `logger.child()`, makes the per-request children lazily. Not through Fastify's `childLoggerFactory`
 * option: with a custom factory Fastify checks the returned logger's seven methods on every request.
 */
export function lazyChildren(logger: FastifyBaseLogger): void {
  const child = logger.child as unknown as ChildFn;
  Object.defineProperty(logger, 'child', {
    value(this: unknown, bindings: pino.Bindings, opts?: pino.ChildLoggerOptions) {
      return new LazyChildLogger(this, child, bindings, opts);
    },
    writable: true, configurable: true, enumerable: false,
  });
}
