import { trace, type Attributes, type AttributeValue, type Tracer } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { BatchSpanProcessor, ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { isSecretKey, REDACTED, redactString } from '../../lib/redact.js';

/**
 * OpenTelemetry traces (OTLP over HTTP, JSON encoding), on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 * Spans are made by hand where the work happens (the request hook, src/db, src/kv, the hash pool):
 * no auto-instrumentation patches `pg` or `ioredis`, so import order does not matter and no library's
 * idea of a useful attribute (a Redis key, a query parameter) can reach the collector. Every attribute
 * passes the shared redaction again on its way out (`RedactingExporter`).
 */
export const tracingSwitch = { on: false };

const TRACER_NAME = 'authplane';
let sdk: NodeSDK | null = null;
let processor: BatchSpanProcessor | null = null;

export interface TracingOptions {
  /** The collector's base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  serviceName: string;
  /** How long finished spans are batched before they are sent (default 2 s). */
  flushDelayMs?: number;
}

/**
 * Starts the SDK once per process (later calls do nothing) and turns the span helpers on. The SDK and the
 * exporter are loaded here, not at import: they weigh ~30 MB of heap and seconds of start-up, paid only
 * by deployments that trace.
 */
export async function startTracing(o: TracingOptions): Promise<void> {
  if (sdk) return;
  const [{ NodeSDK }, { OTLPTraceExporter }, { BatchSpanProcessor }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-node'), import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/core'),
  ]);
  if (sdk) return;
  processor = new BatchSpanProcessor(new RedactingExporter(new OTLPTraceExporter({ url: `${o.endpoint.replace(/\/+$/, '')}/v1/traces` })),
    { scheduledDelayMillis: o.flushDelayMs ?? 2000 });
  sdk = new NodeSDK({
    serviceName: o.serviceName,
    spanProcessors: [processor],
    instrumentations: [],
    autoDetectResources: false,
    textMapPropagator: new W3CTraceContextPropagator(),
  });
  sdk.start();
  tracingSwitch.on = true;
}

/** Sends the finished spans now (tests; shutdown). */
export async function flushTracing(): Promise<void> {
  await processor?.forceFlush();
}

/** Flushes and stops the SDK; the span helpers turn off. */
export async function stopTracing(): Promise<void> {
  if (!sdk) return;
  tracingSwitch.on = false;
  const s = sdk;
  sdk = null;
  processor = null;
  await s.shutdown().catch(() => {});
}

export const tracer = (): Tracer => trace.getTracer(TRACER_NAME);

/** Numeric attributes whose name looks secret to the generic redactor (`code`) but that are our own numbers. */
const NUMERIC_ATTRIBUTES = new Set(['http.response.status_code']);

/** The shared redaction (DESIGN §5) applied to span attributes: secret-looking names and secret-shaped values. */
export function redactAttributes(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (typeof v === 'number' && NUMERIC_ATTRIBUTES.has(k)) out[k] = v;
    else if (isSecretKey(k, v) && typeof v !== 'boolean') out[k] = REDACTED;
    else out[k] = redactValue(v);
  }
  return out;
}

const redactValue = (v: AttributeValue): AttributeValue =>
  typeof v === 'string' ? redactString(v)
    : Array.isArray(v) ? (v as unknown[]).map((x) => (typeof x === 'string' ? redactString(x) : x)) as AttributeValue
      : v;

/** A view of a finished span with its name, attributes, events and status message redacted. */
function redactSpan(s: ReadableSpan): ReadableSpan {
  return Object.create(s, {
    name: { value: redactString(s.name, { max: 200 }) },
    attributes: { value: redactAttributes(s.attributes) },
    events: { value: s.events.map((e) => ({ ...e, name: redactString(e.name, { max: 200 }), attributes: e.attributes && redactAttributes(e.attributes) })) },
    status: { value: s.status.message === undefined ? s.status : { ...s.status, message: redactString(s.status.message, { max: 500 }) } },
  }) as ReadableSpan;
}

/** Wraps the OTLP exporter: nothing leaves the process without the redaction. */
class RedactingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans.map(redactSpan), done);
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
