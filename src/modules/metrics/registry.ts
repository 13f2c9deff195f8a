import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * The process's Prometheus registry and every metric family Authplane exports (served by
 * `metrics-server.ts` on METRICS_PORT). Families are defined here, in one place, so names, help texts
 * and label sets are reviewed together; a capability that needs a new family adds it here with
 * `counter` / `gauge` / `histogram` and imports it.
 *
 * Label values must come from small fixed sets (route patterns, enums): never a raw URL, an id, an email
 * or anything a client chose, or every distinct value becomes a new series held in memory forever.
 * Counters and histograms are our own small families (below): take the labelled child once
 * (`family.labels(...)`) and keep it; `child.inc()` / `child.observe(v)` is then arithmetic on a field.
 */
export const registry = new Registry();

/** Whether the per-request and per-query timers run (METRICS_PORT set); the event counters always count. */
export const metricsSwitch = { on: false };

let defaultsStarted = false;

/**
 * Turns on the timers of requests, queries and Redis commands, and the process metrics (CPU, memory,
 * event-loop lag, GC). Called once the metrics listener is configured; idempotent.
 */
export function enableMetrics(): void {
  metricsSwitch.on = true;
  if (defaultsStarted) return;
  defaultsStarted = true;
  collectDefaultMetrics({ register: registry });
}

/** One labelled series of a counter: incremented on hot paths, so a plain number and nothing else. */
export class CounterChild {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** One labelled series of a histogram: per-bucket counts (not cumulative), sum and count. */
export class HistogramChild {
  sum = 0;
  count = 0;
  readonly counts: Float64Array;
  constructor(readonly labels: Readonly<Record<string, string>>, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += v;
    this.count += 1;
  }
}

/**
 * A metric family whose series live in plain objects and are turned into text only at scrape time.
 * prom-client's own `labels(...).inc()` hashes and validates the label object on every call (~1 µs);
 * here the child is looked up once and an increment is an addition.
 */
abstract class Family<C> {
  private readonly children = new Map<string, C>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {
    registry.registerMetric(this as never);
  }
  protected abstract make(labels: Record<string, string>): C;
  /** The series of these label values, in `labelNames` order (made once, then the same object). */
  labels(...values: string[]): C {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      if (values.length !== this.labelNames.length) throw new TypeError(`${this.name} takes labels ${this.labelNames.join(', ')}`);
      c = this.make(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])));
      this.children.set(key, c);
    }
    return c;
  }
  protected series(): C[] {
    return [...this.children.values()];
  }
}

export class CounterFamily extends Family<CounterChild> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  protected make(labels: Record<string, string>): CounterChild {
    return new CounterChild(labels);
  }
  /** Increments the unlabelled series. */
  inc(n = 1): void {
    this.labels().inc(n);
  }
  get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.series().map((c) => ({ labels: c.labels, value: c.value })) };
  }
}

export class HistogramFamily extends Family<HistogramChild> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[]) {
    super(name, help, labelNames);
  }
  protected make(labels: Record<string, string>): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }
  /** Observes a value on the unlabelled series. */
  observe(v: number): void {
    this.labels().observe(v);
  }
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const c of this.series()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += c.counts[i]!;
        values.push({ labels: { ...c.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...c.labels, le: '+Inf' }, value: c.count, metricName: `${this.name}_bucket` });
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A counter in the registry; `labelNames` must be bounded sets (see the module comment). */
export function counter(name: string, help: string, labelNames: readonly string[] = []): CounterFamily {
  return new CounterFamily(name, help, labelNames);
}

/** A gauge in the registry; `collect` (optional) sets its value at scrape time. */
export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) });
}

/** A histogram in the registry (bucket upper bounds in seconds, ascending). */
export function histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): HistogramFamily {
  return new HistogramFamily(name, help, labelNames, buckets);
}

/**
 * Live readings sampled at scrape time (a pool's size, a queue's length). Several instances can live in one
 * process (tests, a second app), so a gauge adds up its sources; a source is removed when its owner closes.
 */
export function sources<T>() {
  const set = new Set<() => T>();
  return {
    /** Adds a reading; returns the function that removes it. */
    add(read: () => T): () => void {
      set.add(read);
      return () => { set.delete(read); };
    },
    read: (): T[] => [...set].map((r) => r()),
  };
}

const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// ---- HTTP (src/modules/metrics/http-metrics.ts) ----
export const httpRequests = counter('authplane_http_requests_total',
  'Requests answered, by route pattern (unmatched for a 404 without a route), method and status class.', ['route', 'method', 'status_class']);
export const httpDuration = histogram('authplane_http_request_duration_seconds',
  'Time from the first byte of a request to its answer, by route pattern and method.', ['route', 'method'], FAST_BUCKETS);

// ---- Sign-in, MFA, limits, keys (counted from audit events, src/modules/metrics/audit-metrics.ts) ----
export const signInAttempts = counter('authplane_signin_attempts_total',
  'Sign-in attempts by method (password, magic_link, passkey, solana, oauth, other) and outcome (success, failure, denied, error, mfa_required).',
  ['method', 'outcome']);
export const mfaChallenges = counter('authplane_mfa_challenges_total',
  'Second-factor challenges by event: issued (sign-in or step-up asked for a code), completed, failed.', ['event']);
export const rateLimitRejections = counter('authplane_rate_limit_rejections_total',
  'Requests refused with 429 by the request limiter, by route class (credential, default) and reason (limit, lockout).', ['class', 'reason']);
export const lockouts = counter('authplane_lockouts_total',
  'Lockouts begun, by class: address (credential routes locked for a client address), account (password attempts per account), ban (an address banned).',
  ['class']);
export const apiKeyValidations = counter('authplane_api_key_validations_total',
  'API-key (ck_) checks, as a credential or by POST /api-key/validate, by outcome (valid, invalid).', ['outcome']);
export const bearerCache = counter('authplane_bearer_cache_total',
  'Credential checks answered from memory (hit) or that went on to the stores (miss), by credential (access_token, api_key).', ['credential', 'result']);

// ---- argon2 hash pool (src/modules/password/hasher.ts) ----
export const hashPools = sources<{ size: number; running: number; waiting: number }>();
export const argon2PoolSize = gauge('authplane_argon2_pool_size', 'Password hashes that may run at once (ARGON2_MAX_CONCURRENCY).', [], function () {
  this.set(hashPools.read().reduce((n, p) => n + p.size, 0));
});
export const argon2Running = gauge('authplane_argon2_running', 'Password hashes running now.', [], function () {
  this.set(hashPools.read().reduce((n, p) => n + p.running, 0));
});
export const argon2Queue = gauge('authplane_argon2_queue_length', 'Password hashes waiting for a slot now.', [], function () {
  this.set(hashPools.read().reduce((n, p) => n + p.waiting, 0));
});
export const argon2Wait = histogram('authplane_argon2_wait_seconds',
  'Time a password hash waited for a slot in the pool.', [], [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

// ---- Postgres (src/db/pg.ts, src/db/pglite.ts) ----
export const dbPools = sources<{ total: number; idle: number; waiting: number }>();
export const dbPoolConnections = gauge('authplane_db_pool_connections', 'Postgres pool connections by state (busy, idle).', ['state'], function () {
  const pools = dbPools.read();
  const total = pools.reduce((n, p) => n + p.total, 0);
  const idle = pools.reduce((n, p) => n + p.idle, 0);
  this.set({ state: 'busy' }, total - idle);
  this.set({ state: 'idle' }, idle);
});
export const dbPoolWaiting = gauge('authplane_db_pool_waiting', 'Units of work waiting for a Postgres pool connection.', [], function () {
  this.set(dbPools.read().reduce((n, p) => n + p.waiting, 0));
});
export const dbQueryDuration = histogram('authplane_db_query_duration_seconds',
  'Database statement latency by operation (select, insert, update, delete, begin, commit, rollback, other).', ['operation'], FAST_BUCKETS);

// ---- Redis (src/kv/redis.ts) ----
export const redisCommandDuration = histogram('authplane_redis_command_duration_seconds',
  'Redis store call latency by command (get, set, sliding_window, publish, …).', ['command'], FAST_BUCKETS);
export const redisSubscribers = sources<boolean>();
export const redisPubSubConnected = gauge('authplane_redis_pubsub_connected',
  '1 while every Redis pub/sub connection has all its channels subscribed (cache invalidations arrive), else 0; 1 without Redis (the in-process store delivers every message).', [], function () {
    this.set(redisSubscribers.read().every(Boolean) ? 1 : 0);
  });

// ---- Webhooks (the webhooks capability records these) ----
export const webhookDeliveries = counter('authplane_webhook_deliveries_total',
  'Webhook delivery attempts by outcome (delivered, retry, failed).', ['outcome']);
export const webhookBacklog = gauge('authplane_webhook_backlog', 'Webhook deliveries waiting to be sent (due or retrying).');
