import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { getUser, newEmail, PASSWORD, register, type SignedIn } from '../../helpers/identity.js';
import { startMetricsServer, type MetricsServer } from '../../../src/modules/metrics/metrics-server.js';

/**
 * GET /metrics (issue 19): the listed families on their own listener, filled by real traffic, with
 * labels from bounded sets only. One app, one signed-up user (one argon2 hash, three verifications).
 */
let t: TestApp;
let metrics: MetricsServer;
let user: SignedIn;

/** The samples of a Prometheus text exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(): Promise<{ text: string; s: Map<string, number> }> {
  const res = await fetch(`http://127.0.0.1:${metrics.address.port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, s: samples(text) };
}

const value = (s: Map<string, number>, key: string): number => s.get(key) ?? 0;

beforeAll(async () => {
  // The credential class is kept low so that one route's burst meets the limiter; the default class is not.
  t = await createTestApp({ env: { METRICS_PORT: '0', RATE_LIMIT_CREDENTIAL: '8/60' } });
  metrics = await startMetricsServer({ host: t.config.metrics.host, port: 0 });
  user = await register(t.app);
});

afterAll(async () => {
  await metrics?.close();
  await t?.close();
});

describe('GET /metrics', () => {
  it('binds to loopback by default and answers nothing but /metrics', async () => {
    expect(t.config.metrics.host).toBe('127.0.0.1');
    expect(metrics.address.address).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${metrics.address.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metrics.address.port}/metrics`, { method: 'POST' })).status).toBe(405);
    // The API's own server has no /metrics route.
    expect((await call(t.app, { method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('counts sign-ins, bearer cache use, key validations, rate-limit rejections and store latency', async () => {
    const before = (await scrape()).s;
    const bad = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: user.email, password: 'not the password at all' } });
    expect(bad.statusCode).toBe(401);
    const good = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: user.email, password: PASSWORD } });
    expect(good.statusCode).toBe(200);
    const token = good.data.tokens.accessToken as string;
    expect((await getUser(t.app, token)).statusCode).toBe(200);
    expect((await getUser(t.app, token)).statusCode).toBe(200);
    const v = await call(t.app, { method: 'POST', url: '/auth/api-key/validate', json: { apiKey: `ck_${'x'.repeat(40)}` } });
    expect(v.statusCode, v.body).toBe(200);
    // Past the credential limit on one route: 429s, answered before any password is hashed.
    let limited = 0;
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: newEmail('nobody'), password: 'whatever-it-is' } });
      if (r.statusCode === 429) limited++;
    }
    expect(limited).toBe(1);

    const { text, s } = await scrape();
    const delta = (key: string) => value(s, key) - value(before, key);
    expect(delta('authplane_signin_attempts_total{method="password",outcome="failure"}')).toBeGreaterThanOrEqual(1);
    expect(delta('authplane_signin_attempts_total{method="password",outcome="success"}')).toBe(1);
    expect(delta('authplane_bearer_cache_total{credential="access_token",result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(delta('authplane_bearer_cache_total{credential="access_token",result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(delta('authplane_api_key_validations_total{outcome="invalid"}')).toBe(1);
    expect(delta('authplane_rate_limit_rejections_total{class="credential",reason="limit"}')).toBe(1);
    expect(delta('authplane_http_requests_total{route="/auth/user",method="GET",status_class="2xx"}')).toBe(2);
    expect(delta('authplane_http_requests_total{route="/auth/login",method="POST",status_class="4xx"}')).toBeGreaterThanOrEqual(2);
    expect(delta('authplane_http_request_duration_seconds_count{route="/auth/user",method="GET"}')).toBe(2);
    expect(value(s, 'authplane_argon2_pool_size')).toBe(t.config.argon2MaxConcurrency);
    expect(value(s, 'authplane_argon2_wait_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(value(s, 'authplane_db_query_duration_seconds_count{operation="select"}')).toBeGreaterThan(0);
    if (BACKEND === 'services') {
      expect(value(s, 'authplane_redis_command_duration_seconds_count{command="sliding_window"}')).toBeGreaterThan(0);
      expect(value(s, 'authplane_redis_pubsub_connected')).toBe(1);
      expect(s.has('authplane_db_pool_connections{state="idle"}')).toBe(true);
    } else {
      // The in-process store cannot lose a message.
      expect(value(s, 'authplane_redis_pubsub_connected')).toBe(1);
    }
    // Every listed family is exposed, the process metrics among them.
    for (const family of [
      'authplane_http_requests_total', 'authplane_http_request_duration_seconds', 'authplane_signin_attempts_total',
      'authplane_mfa_challenges_total', 'authplane_rate_limit_rejections_total', 'authplane_lockouts_total',
      'authplane_api_key_validations_total', 'authplane_bearer_cache_total', 'authplane_argon2_pool_size',
      'authplane_argon2_running', 'authplane_argon2_queue_length', 'authplane_argon2_wait_seconds',
      'authplane_db_pool_connections', 'authplane_db_pool_waiting', 'authplane_db_query_duration_seconds',
      'authplane_redis_command_duration_seconds', 'authplane_redis_pubsub_connected',
      'authplane_webhook_deliveries_total', 'authplane_webhook_backlog',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
    ]) expect(text, family).toContain(`# TYPE ${family} `);
    // No secret or identifier of the traffic is in the exposition.
    for (const secret of [PASSWORD, token, user.email, user.userId]) expect(text).not.toContain(secret);
  });

  it('labels routes by pattern: 1,000 distinct ids and 334 unknown URLs add no series', async () => {
    const headers = { authorization: `Bearer ${user.accessToken}` };
    // 1,000 distinct ids on one route pattern (half UUIDs, half emails, refused by validation before any
    // store call); every third request also to an unknown URL carrying an id, an email and a token.
    const burst = async (n: number) => {
      for (let i = 0; i < n; i += 25) {
        await Promise.all(Array.from({ length: Math.min(25, n - i) }, async (_, j) => {
          const id = randomUUID();
          await t.app.inject({ method: 'GET', url: `/auth/orgs/${(i + j) % 2 ? encodeURIComponent(newEmail()) : id}`, headers });
          if ((i + j) % 3 === 0) await t.app.inject({ method: 'GET', url: `/auth/no-such-route/${id}/${encodeURIComponent(newEmail())}?token=${id}` });
        }));
      }
    };
    await burst(3);
    const before = await scrape();
    await burst(1000);
    const after = await scrape();
    const seriesOf = (s: Map<string, number>) => [...s.keys()].filter((k) => k.startsWith('authplane_http_')).sort();
    expect(seriesOf(after.s)).toEqual(seriesOf(before.s));
    const orgRoute = [...after.s.keys()].find((k) => k.startsWith('authplane_http_requests_total{route="/auth/orgs/:org_id",method="GET"'));
    expect(orgRoute).toBeDefined();
    const unmatched = 'authplane_http_requests_total{route="unmatched",method="GET",status_class="4xx"}';
    expect(value(after.s, unmatched) - value(before.s, unmatched)).toBe(334);
    expect(after.text).not.toMatch(/no-such-route|@example\.com/);
  });
});
