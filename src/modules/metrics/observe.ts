import { context, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { tracer, tracingSwitch } from '../tracing/tracing.js';
import { dbQueryDuration, metricsSwitch, redisCommandDuration, type HistogramChild } from './registry.js';

/**
 * Latency metrics and spans of store calls, made by hand at our own db/kv wrappers (src/db/pg.ts,
 * src/db/pglite.ts, src/kv/redis.ts). With metrics and tracing both off a call costs two property reads.
 * Spans are made only under an active span (a request): background timers and migrations add no root
 * traces. Attributes name the operation and, for SQL, our own parameterised statement text; parameters,
 * Redis keys and values never become attributes.
 */
export const observing = (): boolean => metricsSwitch.on || tracingSwitch.on;

type Child = HistogramChild;

/** The error's class and code for a span status: never its message (a driver may quote a value). */
function errorLabel(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown };
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  return typeof e?.code === 'string' ? `${name} ${e.code}` : name;
}

async function timed<T>(child: Child, span: { name: string; attributes: Attributes } | null, fn: () => Promise<T>): Promise<T> {
  const t0 = metricsSwitch.on ? performance.now() : 0;
  const parent = span && tracingSwitch.on ? trace.getActiveSpan() : undefined;
  const s = parent ? tracer().startSpan(span!.name, { kind: SpanKind.CLIENT, attributes: span!.attributes }) : undefined;
  try {
    return await (s ? context.with(trace.setSpan(context.active(), s), fn) : fn());
  } catch (err) {
    s?.setStatus({ code: SpanStatusCode.ERROR, message: errorLabel(err) });
    throw err;
  } finally {
    s?.end();
    if (metricsSwitch.on) child.observe((performance.now() - t0) / 1000);
  }
}

const OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback', 'with', 'set']);
interface Statement { child: Child; operation: string }
/** Per statement text: our statements are a fixed set of literals, so this stays small (bounded anyway). */
const statements = new Map<string, Statement>();
const STATEMENTS_MAX = 2000;

function statementOf(text: string): Statement {
  let st = statements.get(text);
  if (st !== undefined) return st;
  const word = /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toLowerCase() ?? 'other';
  const operation = OPERATIONS.has(word) ? word : 'other';
  st = { child: dbQueryDuration.labels(operation), operation };
  if (statements.size < STATEMENTS_MAX) statements.set(text, st);
  return st;
}

/** Times one SQL statement and, under a request span, traces it (`db.query.text` is the statement without its parameters). */
export function observeQuery<T>(system: 'postgresql' | 'pglite', text: string, fn: () => Promise<T>): Promise<T> {
  const st = statementOf(text);
  return timed(st.child, {
    name: `${system} ${st.operation}`,
    attributes: { 'db.system.name': system, 'db.operation.name': st.operation, 'db.query.text': text.length > 1000 ? `${text.slice(0, 1000)}…` : text },
  }, fn);
}

const commands = new Map<string, Child>();

/** Times one Redis store call (`command`: a fixed name per Kv method) and, under a request span, traces it. */
export function observeCommand<T>(command: string, fn: () => Promise<T>): Promise<T> {
  let child = commands.get(command);
  if (child === undefined) commands.set(command, (child = redisCommandDuration.labels(command)));
  return timed(child, { name: `redis ${command}`, attributes: { 'db.system.name': 'redis', 'db.operation.name': command } }, fn);
}
