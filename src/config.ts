import { z } from 'zod';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { DEFAULT_SERVICE_TOOLS, SERVICE_TOOLS } from './modules/mcp/tool-names.js';
import { ARGON2_DUMMY_QUEUE, ARGON2_QUEUE_PER_CLIENT } from './modules/password/hasher.js';

/** TRUST_PROXY: false, a hop count, or trusted proxy IPs/CIDRs. `true` is refused (DESIGN §7). */
export type TrustProxy = false | number | string[];

const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
/** A whole number written in decimal digits: z.coerce.number() alone turns "" into 0 and takes "0x10" or "1e3". */
const wholeNumber = (min: number, max: number, fallback: number) => z.preprocess(emptyToUndefined,
  z.string().regex(/^\s*\d+\s*$/, `must be a whole number from ${min} to ${max}`).optional()
    .transform((v) => (v === undefined ? fallback : Number(v)))
    .pipe(z.number().int().min(min, `must be a whole number from ${min} to ${max}`).max(max, `must be a whole number from ${min} to ${max}`)));

/** `true` or `false`, nothing else (z.coerce.boolean() would turn "false" into true). */
const booleanFlag = (fallback: boolean) => z.preprocess(emptyToUndefined,
  z.enum(['true', 'false'], { message: 'must be true or false' }).optional().transform((v) => (v === undefined ? fallback : v === 'true')));

/** The default argon2 pool size: every core but one (at least one). */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Open files (sockets included) the process may hold: the soft RLIMIT_NOFILE, read on Linux; undefined elsewhere. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors kept back from MAX_CONNECTIONS for everything else: the database pool, Redis, files, the log. */
export const FD_RESERVE = 256;
/** MAX_CONNECTIONS's ceiling when the open-file limit is higher (or unknown). */
export const MAX_CONNECTIONS_CEILING = 10_000;

/** The default total connection cap: 10,000, or the open-file limit minus FD_RESERVE when that is lower (at least 64). */
export function defaultMaxConnections(fileLimit: number | undefined = openFileLimit()): number {
  if (fileLimit === undefined || !Number.isFinite(fileLimit)) return MAX_CONNECTIONS_CEILING;
  return Math.max(64, Math.min(MAX_CONNECTIONS_CEILING, fileLimit - FD_RESERVE));
}

const isCidrOrIp = (s: string): boolean => {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || !ip) return false;
  const v = isIP(ip);
  if (!v) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n >= 0 && n <= (v === 4 ? 32 : 128);
};

/** `<limit>/<window seconds>`, e.g. `20/60`: whole numbers, limit 1–max, window 1 s – 1 day. */
const rateLimit = (fallback: string, maxLimit: number) => z.preprocess(emptyToUndefined, z.string().default(fallback))
  .transform((v, ctx) => {
    const m = /^\s*(\d{1,7})\s*\/\s*(\d{1,6})\s*$/.exec(v);
    const limit = m ? Number(m[1]) : NaN;
    const windowSeconds = m ? Number(m[2]) : NaN;
    if (!(limit >= 1 && limit <= maxLimit && windowSeconds >= 1 && windowSeconds <= 86_400)) {
      ctx.addIssue({ code: 'custom', message: `must be <limit>/<window seconds> such as ${fallback}, limit 1 to ${maxLimit}, window 1 to 86400` });
      return z.NEVER;
    }
    return { limit, windowSeconds };
  });

export const EnvSchema = z
  .object({
    PORT: wholeNumber(0, 65535, 3000)
      .meta({ default: "`3000`", description: "TCP port (0–65535)." }),
    HOST: z.string().min(1).default('127.0.0.1')
      .meta({ default: "`127.0.0.1`", description: "Interface to listen on; `0.0.0.0` in the container." }),
    AUTH_BASE_PATH: z.string().regex(/^\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$/, 'must start with "/" and not end with "/"').default('/auth')
      .meta({ default: "`/auth`", description: "Path prefix of the API (`/.well-known/*` and `/mcp` stay at the root)." }),
    PUBLIC_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional())
      .meta({ default: "`http://localhost:<PORT>`", description: "The externally visible origin: the access-token issuer and the base of links in emails." }),
    DATABASE_URL: z.preprocess(emptyToUndefined, z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional())
      .meta({ default: "— (embedded PGlite)", description: "`postgres://…`; unset → PGlite under `DATA_DIR/pgdata`." }),
    DATABASE_READ_URL: z.preprocess(emptyToUndefined, z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional())
      .meta({ default: "— (the primary)", description: "`postgres://…` of a read pool (e.g. a streaming replica) for reads that tolerate replication lag: admin lists of users and tenants, audit log reads, webhook delivery lists, account data exports. Same role and row-level security as `DATABASE_URL`; never used for credential checks, sessions, or anything that reads and then writes. Requires `DATABASE_URL`. See [scaling](scaling.md)." }),
    REDIS_URL: z.preprocess(emptyToUndefined, z.string().regex(/^(redis|rediss|redis\+cluster):\/\//, 'must be a redis://, rediss:// or redis+cluster:// URL').optional())
      .meta({ default: "— (in-process store)", description: "`redis://…`, `rediss://…` or `redis+cluster://host1:port,host2:port` (key layout: [scaling](scaling.md)); unset → in-process store." }),
    KV_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 characters from A-Z a-z 0-9 _ . : -').default('ap:'))
      .meta({ default: "`ap:`", description: "Prefix of every Redis key and channel (several deployments can share one Redis)." }),
    DATA_DIR: z.string().min(1).default('./.data')
      .meta({ default: "`./.data`", description: "Embedded database, generated `AUTH_SECRET`, development mail outbox." }),
    AUTH_SECRET: optionalString
      .meta({ default: "generated in `DATA_DIR/auth-secret` (embedded only)", description: "Master secret, ≥ 32 bytes; seals signing keys and idempotency records. **Required** when `DATABASE_URL` is set." }),
    JWT_ALG: z.enum(['EdDSA', 'HS256']).default('EdDSA')
      .meta({ default: "`EdDSA`", description: "`EdDSA` (Ed25519 keys in the database, published at `/.well-known/jwks.json`) or `HS256`." }),
    JWT_SECRET: optionalString
      .meta({ default: "—", description: "HS256 key, ≥ 32 bytes; required with `JWT_ALG=HS256`, refused otherwise." }),
    SMTP_URL: z.preprocess(emptyToUndefined, z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional())
      .meta({ default: "—", description: "`smtp://` or `smtps://`; unset → emails are logged and written to `DATA_DIR/outbox`." }),
    SMTP_FROM: z.string().min(3).default('Authplane <no-reply@localhost>')
      .meta({ default: "`Authplane <no-reply@localhost>`", description: "Sender of emails." }),
    TRUST_PROXY: z.preprocess(emptyToUndefined, z.string().default('false'))
      .meta({ default: "`false`", description: "`false`, comma-separated proxy IPs/CIDRs (safest), or a hop count (`1`, believed only when the connecting peer has a private/loopback address); decides whether `X-Forwarded-For` is believed for limits, bans and audit. `true` is refused." }),
    MCP_TOKEN: optionalString
      .meta({ default: "—", description: "Static bearer (≥ 32 bytes) accepted by the MCP endpoint (`POST /mcp`), besides access tokens." }),
    MCP_SERVICE_TOOLS: z.preprocess(emptyToUndefined, z.string().default(DEFAULT_SERVICE_TOOLS))
      .meta({ default: "`whoami,get_audit_events`", description: "The MCP tools the static `MCP_TOKEN` may call (comma-separated; the other tools act as a user)." }),
    OAUTH_GOOGLE_CLIENT_ID: optionalString
      .meta({ default: "—", description: "OpenID Connect client id for OAuth sign-in." }),
    OAUTH_GOOGLE_CLIENT_SECRET: optionalString
      .meta({ default: "—", description: "Its client secret; required with the client id." }),
    OAUTH_GOOGLE_ISSUER: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).default('https://accounts.google.com'))
      .meta({ default: "`https://accounts.google.com`", description: "The OpenID Connect issuer to sign in with (any OIDC provider)." }),
    // Hosted pages (src/modules/ui): on by default; UI_PATH defaults to AUTH_BASE_PATH + "/ui".
    UI_ENABLED: z.preprocess(emptyToUndefined, z.enum(['true', 'false'], { message: 'must be true or false' }).default('true'))
      .meta({ default: "`true`", description: "`false` turns the hosted pages (sign-in, email link landings, account) off: nothing is registered under `UI_PATH`." }),
    UI_PATH: z.preprocess(emptyToUndefined, z.string().regex(/^\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$/, 'must start with "/" and not end with "/"').optional())
      .meta({ default: "`AUTH_BASE_PATH` + `/ui`", description: "Path of the hosted pages (see [Pages](pages.md))." }),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
      .meta({ default: "`info`", description: "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON, secrets redacted." }),
    // One core is left to the event loop: with every core hashing, bearer checks and other cheap routes
    // wait behind logins (bench/login.bench.ts: p99 ×5–25 with 4 hashes on 2 cores, ≈×1–2 with 1).
    ARGON2_MAX_CONCURRENCY: wholeNumber(1, 64, defaultHashConcurrency())
      .meta({ default: "cores − 1 (at least 1)", description: "Password hashes computed at once (1–64); the rest queue. One core is left to the event loop so cheap routes stay fast while logins are hashed." }),
    // Issue 25: a flood of unknown-email logins (dummy verifications) or one address must not starve the
    // pool; see src/modules/password/hasher.ts and docs/decisions.md "Hash pool fairness".
    ARGON2_DUMMY_QUEUE: wholeNumber(0, 256, ARGON2_DUMMY_QUEUE)
      .meta({ default: "`4`", description: "Dummy verifications (logins for unknown, disabled or password-less accounts) that may wait in the hash queue (0–256); beyond that they are not run but answered, with the same `401`, after as long as a queued verification takes, so a flood of unknown emails cannot starve known accounts." }),
    ARGON2_QUEUE_PER_CLIENT: wholeNumber(1, 256, ARGON2_QUEUE_PER_CLIENT)
      .meta({ default: "`8`", description: "Hash jobs (running, waiting or timed) one client address may have at once (1–256); beyond that `503 unavailable`, whatever the account." }),
    RATE_LIMIT_CREDENTIAL: rateLimit('20/60', 1_000_000)
      .meta({ default: "`20/60`", description: "`<requests>/<seconds>` per client address per route on routes that accept credentials (tenants override it in `settings.rateLimits`)." }),
    RATE_LIMIT_DEFAULT: rateLimit('600/60', 1_000_000)
      .meta({ default: "`600/60`", description: "The same for the other routes (health, readiness, discovery and JWKS are not limited)." }),
    // NIST SP 800-63B §5.2.2: at most 100 consecutive failed attempts on one account.
    RATE_LIMIT_ACCOUNT: rateLimit('10/900', 100)
      .meta({ default: "`10/900`", description: "Password attempts per account per window, whatever the address (limit at most 100); a success resets it." }),
    // Slow clients (src/http/connection-limits.ts): a request's headers, then the whole request, must
    // arrive within these. An idle keep-alive connection is not a slow request (Fastify closes it after 72 s idle).
    HTTP_HEADERS_TIMEOUT_MS: wholeNumber(100, 300_000, 10_000)
      .meta({ default: "`10000`", description: "A request's headers must arrive within this many ms of its first byte (100–300000; at most `HTTP_REQUEST_TIMEOUT_MS`); else `408 request_timeout` and the connection is closed." }),
    HTTP_REQUEST_TIMEOUT_MS: wholeNumber(100, 600_000, 30_000)
      .meta({ default: "`30000`", description: "The whole request, headers and body, must arrive within this many ms (100–600000). Idle keep-alive connections and slow handlers are not cut off." }),
    // 0 turns a cap off. The per-address default leaves room for 100+ keep-alive connections from one
    // load generator or proxy; behind a proxy every connection comes from the proxy's address.
    MAX_CONNECTIONS: wholeNumber(0, 1_000_000, defaultMaxConnections())
      .meta({ default: "`10000`, or the open-file limit − 256 if lower", description: "Open connections in all; new ones over it are closed at once. `0` = no cap." }),
    MAX_CONNECTIONS_PER_ADDRESS: wholeNumber(0, 1_000_000, 256)
      .meta({ default: "`256`", description: "Open connections from one client address (IPv6: one /64); new ones over it are closed at once. `0` = no cap. Behind a proxy this is the proxy's address: see [Slow clients and connection caps](operations.md#slow-clients-and-connection-caps)." }),
    // Webhooks (src/modules/webhooks). The durations are settings so tests (and cautious operators) can shrink them.
    WEBHOOK_ALLOW_PRIVATE: booleanFlag(false)
      .meta({ default: "`false`", description: "`true` lets webhooks go to loopback and private addresses (RFC 1918, CGNAT, ULA) and over plain `http`: development and private networks only. Link-local and metadata addresses (169.254.0.0/16, `fd00:ec2::254`) stay refused. See [Webhooks](operations.md#webhooks)." }),
    WEBHOOK_WORKER: booleanFlag(true)
      .meta({ default: "`true`", description: "`false`: this instance delivers no webhooks (others sharing the database still do)." }),
    WEBHOOK_POLL_MS: wholeNumber(10, 600_000, 1000)
      .meta({ default: "`1000`", description: "How often the delivery worker looks for due deliveries (an event also wakes it at once)." }),
    WEBHOOK_TIMEOUT_MS: wholeNumber(100, 60_000, 5000)
      .meta({ default: "`5000`", description: "One delivery attempt's whole budget (resolve, connect, answer)." }),
    WEBHOOK_RETRY_WINDOW_SECONDS: wholeNumber(1, 7 * 86_400, 86_400)
      .meta({ default: "`86400`", description: "Retries (exponential backoff with jitter, 10 s doubling to 1 h) stop this long after the event; the delivery is then `failed`." }),
    WEBHOOK_PAUSE_AFTER_SECONDS: wholeNumber(1, 30 * 86_400, 86_400)
      .meta({ default: "`86400`", description: "An endpoint that has failed every delivery for this long (counted from the first event it missed) is paused." }),
    WEBHOOK_RETENTION_DAYS: wholeNumber(0, 3650, 30)
      .meta({ default: "`30`", description: "Days a finished (delivered or failed) webhook delivery is kept; older ones, then the events no delivery refers to any more, are deleted in small batches by each instance's webhook worker about once an hour. Pending deliveries are never deleted. `0` keeps everything." }),
    // Operations (src/modules/metrics, src/modules/tracing): both off unless set. The metrics listener is
    // separate from the API's and binds to loopback by default, so /metrics is never public by accident.
    METRICS_PORT: z.preprocess(emptyToUndefined, z.string().regex(/^\s*\d{1,5}\s*$/, 'must be a port number from 0 to 65535').optional()
      .transform((v) => (v === undefined ? undefined : Number(v)))
      .pipe(z.number().int().min(0).max(65535, 'must be a port number from 0 to 65535').optional()))
      .meta({ default: "— (off)", description: "Port of the Prometheus listener serving `GET /metrics` (0–65535, not `PORT`); unset → no metrics listener and no request/query timers. See [Metrics](operations.md#prometheus-metrics)." }),
    METRICS_HOST: z.preprocess(emptyToUndefined, z.string().min(1).default('127.0.0.1'))
      .meta({ default: "`127.0.0.1`", description: "Interface of the metrics listener. Loopback by default so metrics are never public by accident; set it to a private interface your Prometheus reaches." }),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL (the collector\'s OTLP/HTTP base, e.g. http://127.0.0.1:4318)' }).optional())
      .meta({ default: "— (off)", description: "OTLP/HTTP collector base URL (`http://collector:4318`); spans go to `<endpoint>/v1/traces` (JSON encoding). Unset → no tracing." }),
    OTEL_SERVICE_NAME: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be 1 to 100 characters from A-Z a-z 0-9 _ . : -').default('authplane'))
      .meta({ default: "`authplane`", description: "`service.name` of the exported spans." }),
  })
  .superRefine((env, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (env.JWT_ALG === 'HS256' && (!env.JWT_SECRET || Buffer.byteLength(env.JWT_SECRET) < 32)) {
      issue('JWT_SECRET', 'is required with JWT_ALG=HS256 and must be at least 32 bytes');
    }
    if (env.JWT_ALG !== 'HS256' && env.JWT_SECRET) issue('JWT_SECRET', 'is only used with JWT_ALG=HS256; unset it or set JWT_ALG=HS256');
    if (env.AUTH_SECRET !== undefined && Buffer.byteLength(env.AUTH_SECRET) < 32) issue('AUTH_SECRET', 'must be at least 32 bytes');
    if (env.AUTH_SECRET === undefined && env.DATABASE_URL) {
      issue('AUTH_SECRET', 'is required when DATABASE_URL is set (generate one with: openssl rand -base64 48)');
    }
    if (env.DATABASE_READ_URL && !env.DATABASE_URL) issue('DATABASE_READ_URL', 'is only used with DATABASE_URL (a read pool next to the primary); set DATABASE_URL too');
    if (env.MCP_TOKEN !== undefined && Buffer.byteLength(env.MCP_TOKEN) < 32) issue('MCP_TOKEN', 'must be at least 32 bytes');
    const unknownTool = env.MCP_SERVICE_TOOLS.split(',').map((x) => x.trim()).find((x) => !(SERVICE_TOOLS as readonly string[]).includes(x));
    if (unknownTool !== undefined) issue('MCP_SERVICE_TOOLS', `must be a comma-separated list of ${SERVICE_TOOLS.join(', ')} ("${unknownTool.slice(0, 40)}" is not one; the other tools act as a user)`);
    if (env.OAUTH_GOOGLE_CLIENT_ID && !env.OAUTH_GOOGLE_CLIENT_SECRET) issue('OAUTH_GOOGLE_CLIENT_SECRET', 'is required when OAUTH_GOOGLE_CLIENT_ID is set');
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      issue('HTTP_HEADERS_TIMEOUT_MS', `must not be more than HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}): the request timeout covers the headers too`);
    }
    if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) issue('METRICS_PORT', `must differ from PORT (${env.PORT}): metrics have their own listener`);
    const tp = env.TRUST_PROXY.trim();
    if (tp.toLowerCase() === 'true') issue('TRUST_PROXY', 'true is refused: name the hop count (e.g. 1) or the proxies (comma-separated IPs/CIDRs)');
    else if (tp !== 'false' && !/^\d+$/.test(tp) && !tp.split(',').every((p) => isCidrOrIp(p.trim()))) {
      issue('TRUST_PROXY', 'must be false, a hop count, or comma-separated IPs/CIDRs');
    }
  });

export type Env = z.input<typeof EnvSchema>;

export interface Config {
  port: number;
  host: string;
  basePath: string;
  publicUrl: string;
  databaseUrl?: string;
  /** DATABASE_READ_URL: the read pool for lag-tolerant reads (Sql.readTx); undefined = the primary. */
  databaseReadUrl?: string;
  redisUrl?: string;
  kvPrefix: string;
  dataDir: string;
  /** Undefined only in embedded mode before `resolveAuthSecret` has run. */
  authSecret?: string;
  jwtAlg: 'EdDSA' | 'HS256';
  jwtSecret?: string;
  smtpUrl?: string;
  smtpFrom: string;
  trustProxy: TrustProxy;
  mcpToken?: string;
  /** The tools the static MCP_TOKEN may call (MCP_SERVICE_TOOLS; a subset of SERVICE_TOOLS in src/modules/mcp/tool-names.ts). */
  mcpServiceTools: readonly string[];
  oauthGoogle: { clientId?: string; clientSecret?: string; issuer: string };
  /** Hosted pages (src/modules/ui): UI_ENABLED, UI_PATH (default AUTH_BASE_PATH + "/ui"). */
  ui: { enabled: boolean; path: string };
  logLevel: string;
  argon2MaxConcurrency: number;
  /** Dummy verifications (unknown accounts) that may wait in the hash pool's queue; the rest are timed, not run. */
  argon2DummyQueue: number;
  /** Hash jobs one client address may have in the pool at once; beyond that 503. */
  argon2QueuePerClient: number;
  /** Process-wide rate limits per class (tenants override credential/default in their settings); see src/modules/rate-limit/limits.ts. */
  rateLimits: { credential: RateLimitSetting; default: RateLimitSetting; account: RateLimitSetting };
  /** Slow-client bounds and connection caps of the listening server (src/http/connection-limits.ts); 0 = no cap. */
  connections: ConnectionLimits;
  /** Webhook delivery: SSRF allowance, the poller, the attempt timeout, the retry window and the pause threshold. */
  webhooks: { allowPrivate: boolean; worker: boolean; pollMs: number; timeoutMs: number; retryWindowMs: number; pauseAfterMs: number; retentionMs: number };
  /** METRICS_PORT / METRICS_HOST: the Prometheus listener (src/modules/metrics); `port` undefined = off. */
  metrics: { port?: number; host: string };
  /** OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_SERVICE_NAME: OTLP traces (src/modules/tracing); `endpoint` undefined = off. */
  tracing: { endpoint?: string; serviceName: string };
  /** True when no DATABASE_URL is set: PGlite (and, without REDIS_URL, the in-process store). */
  embedded: boolean;
}

/** HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS. */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/** A sliding-window limit: at most `limit` hits per `windowSeconds`. */
export interface RateLimitSetting {
  limit: number;
  windowSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, readonly problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment into a frozen Config; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const known = Object.fromEntries(Object.keys(EnvSchema.shape).map((k) => [k, env[k]]).filter(([, v]) => v !== undefined));
  const parsed = EnvSchema.safeParse(known);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    const variable = String(first.path[0] ?? 'environment');
    // Our own messages are phrased to follow the variable name ("must be …"); zod's start upper-case.
    throw new ConfigError(variable, /^[a-z]/.test(first.message) ? first.message : `is invalid: ${first.message}`);
  }
  const e = parsed.data;
  const tp = e.TRUST_PROXY.trim();
  const trustProxy: TrustProxy = tp === 'false' ? false : /^\d+$/.test(tp) ? Number(tp) : tp.split(',').map((p) => p.trim());
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    basePath: e.AUTH_BASE_PATH,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    databaseUrl: e.DATABASE_URL,
    databaseReadUrl: e.DATABASE_READ_URL,
    redisUrl: e.REDIS_URL,
    kvPrefix: e.KV_PREFIX,
    dataDir: e.DATA_DIR,
    authSecret: e.AUTH_SECRET,
    jwtAlg: e.JWT_ALG,
    jwtSecret: e.JWT_SECRET,
    smtpUrl: e.SMTP_URL,
    smtpFrom: e.SMTP_FROM,
    trustProxy,
    mcpToken: e.MCP_TOKEN,
    mcpServiceTools: Object.freeze([...new Set(e.MCP_SERVICE_TOOLS.split(',').map((x) => x.trim()))]),
    oauthGoogle: { clientId: e.OAUTH_GOOGLE_CLIENT_ID, clientSecret: e.OAUTH_GOOGLE_CLIENT_SECRET, issuer: e.OAUTH_GOOGLE_ISSUER },
    ui: Object.freeze({ enabled: e.UI_ENABLED === 'true', path: e.UI_PATH ?? `${e.AUTH_BASE_PATH}/ui` }),
    logLevel: e.LOG_LEVEL,
    argon2MaxConcurrency: e.ARGON2_MAX_CONCURRENCY,
    argon2DummyQueue: e.ARGON2_DUMMY_QUEUE,
    argon2QueuePerClient: e.ARGON2_QUEUE_PER_CLIENT,
    rateLimits: Object.freeze({ credential: e.RATE_LIMIT_CREDENTIAL, default: e.RATE_LIMIT_DEFAULT, account: e.RATE_LIMIT_ACCOUNT }),
    connections: Object.freeze({
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
    }),
    webhooks: Object.freeze({
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      worker: e.WEBHOOK_WORKER,
      pollMs: e.WEBHOOK_POLL_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryWindowMs: e.WEBHOOK_RETRY_WINDOW_SECONDS * 1000,
      pauseAfterMs: e.WEBHOOK_PAUSE_AFTER_SECONDS * 1000,
      retentionMs: e.WEBHOOK_RETENTION_DAYS * 86_400_000,
    }),
    metrics: Object.freeze({ port: e.METRICS_PORT, host: e.METRICS_HOST }),
    tracing: Object.freeze({ endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME }),
    embedded: !e.DATABASE_URL,
  });
}

/** The environment variables the server reads (for the compose-file check and the README). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape);
