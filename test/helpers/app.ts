import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { buildApp } from '../../src/server.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/http/logger.js';
import type { ModuleDef } from '../../src/modules/module.js';
import { createStores, type Stores } from './backend.js';
import type { WebhookTransport } from '../../src/modules/webhooks/service.js';

export const TEST_AUTH_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const TEST_PUBLIC_URL = 'http://localhost:3999';

/** Request limits high enough for tests that send many requests from one address. */
export const RAISED_RATE_LIMITS = { RATE_LIMIT_CREDENTIAL: '100000/60', RATE_LIMIT_DEFAULT: '100000/60' };
/** The production defaults, for the tests of the limits themselves. */
export const RATE_LIMIT_TEST_DEFAULTS = { RATE_LIMIT_CREDENTIAL: '20/60', RATE_LIMIT_DEFAULT: '600/60' };

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  config: Readonly<Config>;
  stores: Stores;
  clock: ReturnType<typeof createManualClock>;
  /** every log line the app wrote (already redacted), as text */
  logs: string[];
  /** a second app instance on the same database and key space */
  second(): Promise<{ app: FastifyInstance; deps: Deps }>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  extraModules?: ModuleDef[];
  /** reuse these stores (e.g. after a restart) */
  stores?: Stores;
  /** the webhook worker's resolver and connector (webhook tests fence them to loopback) */
  webhookTransport?: WebhookTransport;
}

function captureLogger(level: string, sink: string[]) {
  const dest = new Writable({ write(chunk, _enc, cb) { sink.push(chunk.toString()); cb(); } });
  return createLogger(level, dest as unknown as pino.DestinationStream);
}

/** Builds an app on fresh stores for the current TEST_BACKEND, with a manual clock starting now. */
export async function createTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const clock = createManualClock(Date.now());
  const stores = opts.stores ?? (await createStores({ now: () => clock.nowMs() }));
  // Each app gets its own DATA_DIR (the development mail outbox lives there); removed on close.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'authplane-test-'));
  // Tests send many requests from one address: the request limits are raised here, and the
  // rate-limit tests set the real defaults back explicitly through `env` (RATE_LIMIT_TEST_DEFAULTS).
  const config = loadConfig({ AUTH_SECRET: TEST_AUTH_SECRET, PUBLIC_URL: TEST_PUBLIC_URL, LOG_LEVEL: 'info', DATA_DIR: dataDir, ...RAISED_RATE_LIMITS, ...opts.env });
  const logs: string[] = [];
  const make = async (sql = stores.sql, kv = stores.kv) => {
    const deps = await createDeps(config, { sql, kv, clock, log: captureLogger('info', logs), webhookTransport: opts.webhookTransport });
    const app = await buildApp(config, { deps, extraModules: opts.extraModules });
    await app.ready();
    return { app, deps };
  };
  const first = await make();
  const others: (() => Promise<void>)[] = [];
  return {
    ...first,
    config,
    stores,
    clock,
    logs,
    async second() {
      const h = await stores.another();
      const s = await make(h.sql, h.kv);
      others.push(async () => { await s.app.close(); await s.deps.close(); await h.close(); });
      return s;
    },
    async close() {
      for (const o of others) await o();
      await first.app.close();
      await first.deps.close();
      if (!opts.stores) await stores.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `app.inject` with a JSON body and the response parsed. */
export async function call(app: FastifyInstance, o: InjectOptions & { json?: unknown; token?: string }): Promise<LightMyRequestResponse & { body: string; data: any }> {
  const headers: Record<string, string> = { ...(o.headers as Record<string, string> | undefined) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload = o.payload;
  if (o.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = JSON.stringify(o.json);
  }
  const res = await app.inject({ ...o, headers, payload });
  let data: unknown;
  try { data = res.json(); } catch { data = undefined; }
  return Object.assign(res, { data });
}
