import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { ALL_TENANTS } from '../../../src/db/scope.js';
import { webhookStore } from '../../../src/modules/webhooks/store.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { register } from '../../helpers/identity.js';
import { fencedTransport, startReceiver, type Received, type Receiver } from '../../helpers/webhook-receiver.js';
import { webhookBacklog, webhookDeliveries } from '../../../src/modules/metrics/registry.js';

/**
 * Webhooks end to end on one app (and a second instance on the same database): signed delivery to a local
 * receiver, retries, at-least-once across instances (SKIP LOCKED claims, leases), pause after persistent
 * failure, secret rotation, redelivery, the delivery-time SSRF check, bad input, hostile clients and RLS.
 * The worker's poller is not started: each test runs `worker.runOnce()` and moves the injected clock, so
 * retries are deterministic. No packet leaves loopback: the transport is fenced (`fence.violations`).
 */
let t: TestApp;
let admin: { key: string };
let tenantId: string;
let otherTenantId: string;
let rx: Receiver;
/** a second instance on the same database and key space */
let b: Awaited<ReturnType<TestApp['second']>>;
const fence = fencedTransport({ 'receiver.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'], 'intranet.test': ['10.1.2.3'] });
const RETRY_WINDOW_S = 300;
const PAUSE_AFTER_S = 300;

const A = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, json?: unknown, token = admin.key) => call(t.app, { method, url, json, token });
const hooks = (tenant = tenantId) => `/auth/admin/tenants/${tenant}/webhooks`;
const worker = () => t.deps.services.webhooks.worker;

async function createEndpoint(o: { url?: string; eventTypes?: string[] } = {}): Promise<{ id: string; secret: string }> {
  const res = await A('POST', hooks(), { url: o.url ?? rx.url, eventTypes: o.eventTypes ?? ['*'] });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.data.id, secret: res.data.secret };
}
/** Emits one event in its own transaction, as a service does inside its change's transaction. */
const emit = (data: Record<string, unknown>, tenant = tenantId) =>
  t.deps.sql.tx(tenant, (tx) => t.deps.services.webhooks.emit(tx, tenant, 'user.updated', data)) as Promise<string>;
const deliveries = async (endpointId: string) => (await A('GET', `${hooks()}/${endpointId}/deliveries`)).data.items as any[];
/** Verifies like a receiver whose clock reads the app's injected clock (the tests move it by hours). */
function verify(secret: string, m: Received): any {
  vi.useFakeTimers({ toFake: ['Date'], now: t.clock.nowMs() });
  try {
    return new Webhook(secret).verify(m.body, { 'webhook-id': m.id, 'webhook-timestamp': m.timestamp, 'webhook-signature': m.signature });
  } finally {
    vi.useRealTimers();
  }
}
const pause = (id: string) => A('PATCH', `${hooks()}/${id}`, { paused: true });

beforeAll(async () => {
  t = await createTestApp({
    env: { RATE_LIMIT_ACCOUNT: '2/900', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_WINDOW_SECONDS: String(RETRY_WINDOW_S), WEBHOOK_PAUSE_AFTER_SECONDS: String(PAUSE_AFTER_S), WEBHOOK_TIMEOUT_MS: '2000' },
    webhookTransport: fence.transport,
  });
  admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 30 });
  tenantId = (await t.deps.tenants.resolve('default'))!.id;
  const other = await A('POST', '/auth/admin/tenants', { slug: 'hooks-other', name: 'Other' });
  otherTenantId = other.data.id;
  rx = await startReceiver();
  b = await t.second();
});
afterAll(async () => {
  expect(fence.violations).toEqual([]);
  await rx?.close();
  await t?.close();
});

describe('delivery', () => {
  it('a sign-up is delivered to the receiver with a valid Standard Webhooks signature; the delivery records status 200', async () => {
    const ep = await createEndpoint({ eventTypes: ['user.created', 'session.created'] });
    rx.received.length = 0;
    const delivered = () => webhookDeliveries.get().values.find((v) => v.labels.outcome === 'delivered')?.value ?? 0;
    const backlog = async () => (await webhookBacklog.get()).values[0]?.value ?? 0;
    const deliveredBefore = delivered();
    const user = await register(t.app);
    // The metrics see the outbox: two deliveries waiting, then two delivered.
    expect(await backlog()).toBeGreaterThanOrEqual(2);
    expect(await worker().runOnce()).toBe(2);
    expect(delivered() - deliveredBefore).toBe(2);
    const bodies = rx.received.map((m) => verify(ep.secret, m));
    expect(bodies.map((b) => b.type).sort()).toEqual(['session.created', 'user.created']);
    expect(bodies.find((b) => b.type === 'user.created').data).toMatchObject({ userId: user.userId, email: user.email, method: 'password' });
    expect(rx.received[0]!.id).toMatch(/^msg_/);
    // A signature made with another secret does not verify.
    expect(() => verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, rx.received[0]!)).toThrow(/signature/);
    // The timestamp is the attempt's: a receiver whose clock is 10 minutes ahead refuses it (replay window).
    t.clock.advance(600_000);
    expect(() => verify(ep.secret, rx.received[0]!)).toThrow(/timestamp/);
    const list = await deliveries(ep.id);
    expect(list).toHaveLength(2);
    expect(list.every((d) => d.status === 'succeeded' && d.responseStatus === 204 && d.attempts === 1 && d.nextAttemptAt === null)).toBe(true);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('the services emit their events in the transaction of the change: org, API key, invite, policy, session revocation, account lockout', async () => {
    const ep = await createEndpoint();
    rx.received.length = 0;
    const u = await register(t.app);
    const U = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, json?: unknown) => call(t.app, { method, url, json, token: u.accessToken });
    const org = await U('POST', '/auth/orgs', { name: 'Hooks Inc' });
    expect(org.statusCode, org.body).toBe(200);
    const key = await U('POST', '/auth/api-keys', { name: 'ci', scopes: ['user:read'] });
    expect(key.statusCode, key.body).toBe(201);
    expect((await U('DELETE', `/auth/api-keys/${key.data.id}`)).statusCode).toBe(204);
    const inv = await U('POST', `/auth/orgs/${org.data.id}/invites`, { email: 'invitee@example.com', roles: ['member'] });
    expect(inv.statusCode, inv.body).toBe(200);
    const pol = await U('POST', `/auth/orgs/${org.data.id}/policies`, { name: 'no-deletes', effect: 'deny', actions: ['assets:delete'] });
    expect(pol.statusCode, pol.body).toBe(200);
    expect((await U('POST', '/auth/logout')).statusCode).toBe(200);
    // Two wrong passwords fill the account's window (RATE_LIMIT_ACCOUNT=2/900 here): the third attempt is locked out.
    const wrong = () => call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: 'wrong horse battery staple' } });
    expect((await wrong()).statusCode).toBe(401);
    expect((await wrong()).statusCode).toBe(401);
    expect((await wrong()).statusCode).toBe(429);
    // A request refused midway writes no event: the org name is invalid, nothing commits.
    expect((await call(t.app, { method: 'POST', url: '/auth/orgs', json: { name: '' }, token: u.accessToken })).statusCode).toBeGreaterThanOrEqual(400);
    await worker().runOnce();
    const got = rx.received.map((m) => verify(ep.secret, m));
    const types = got.map((e) => e.type);
    for (const type of ['user.created', 'session.created', 'api_key.created', 'org.created', 'api_key.revoked', 'invite.created', 'policy.changed', 'session.revoked', 'user.locked_out']) {
      expect(types, type).toContain(type);
    }
    expect(types.filter((x) => x === 'org.created')).toHaveLength(1);
    expect(got.find((e) => e.type === 'api_key.revoked').data).toMatchObject({ userId: u.userId, keyId: key.data.id, name: 'ci' });
    expect(got.find((e) => e.type === 'session.revoked').data).toMatchObject({ userId: u.userId, allSessions: false });
    expect(got.find((e) => e.type === 'user.locked_out').data).toMatchObject({ userId: u.userId, reason: 'password_attempts' });
    // No secret in any payload: not the API key, not the invite token, not the refresh token.
    const all = rx.received.map((m) => m.body).join('\n');
    for (const secret of [key.data.key, inv.data.token, u.refreshToken, u.body.apiKey]) expect(all).not.toContain(secret);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('is retried with backoff after the receiver fails twice, then succeeds (same webhook-id every time)', async () => {
    const ep = await createEndpoint();
    rx.received.length = 0;
    rx.queue.push({ status: 500, body: 'down' }, { status: 503 });
    const id = await emit({ n: 1 });
    expect(await worker().runOnce()).toBe(1);
    expect(await worker().runOnce()).toBe(0); // not due yet: backing off
    let d = (await deliveries(ep.id))[0];
    expect(d).toMatchObject({ status: 'pending', attempts: 1, responseStatus: 500, responseBody: 'down' });
    t.clock.advance(10_000); // first retry within 5–10 s
    expect(await worker().runOnce()).toBe(1);
    t.clock.advance(20_000); // second within 10–20 s
    expect(await worker().runOnce()).toBe(1);
    d = (await deliveries(ep.id))[0];
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3, responseStatus: 204, lastError: null });
    expect(rx.received.map((m) => m.id)).toEqual([id, id, id]);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('two instances draining at once deliver each event exactly once (SKIP LOCKED); after dedupe on webhook-id, once each', async () => {
    const ep = await createEndpoint();
    rx.received.length = 0;
    const ids = new Set<string>();
    for (let i = 0; i < 12; i++) ids.add(await emit({ i }));
    const [x, y] = await Promise.all([worker().runOnce(), b.deps.services.webhooks.worker.runOnce()]);
    expect(x + y).toBe(12);
    const seen = rx.received.map((m) => m.id);
    expect(new Set(seen)).toEqual(ids);
    expect(seen).toHaveLength(12);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('is not lost when the instance that committed it dies before delivering: another instance delivers it', async () => {
    const ep = await createEndpoint();
    rx.received.length = 0;
    // Instance B commits two events; its worker claims one and B dies mid-delivery (the claim is committed,
    // the outcome never recorded); the other it never got to.
    const id = await b.deps.sql.tx(tenantId, (tx) => b.deps.services.webhooks.emit(tx, tenantId, 'user.updated', { killed: true }));
    const id2 = await b.deps.sql.tx(tenantId, (tx) => b.deps.services.webhooks.emit(tx, tenantId, 'user.updated', { claimedThenKilled: true }));
    const claimed = await b.deps.sql.tx(ALL_TENANTS, (tx) => webhookStore.claimDue(tx, { now: t.clock.now(), leaseUntil: new Date(t.clock.nowMs() + 60_000), limit: 1, claimId: crypto.randomUUID() }));
    expect(claimed).toHaveLength(1);
    await b.app.close();
    await b.deps.close();
    expect(await worker().runOnce()).toBe(1); // the one nobody claimed
    t.clock.advance(61_000); // the dead worker's lease runs out
    expect(await worker().runOnce()).toBe(1);
    expect(new Set(rx.received.map((m) => m.id))).toEqual(new Set([id, id2]));
    expect(rx.received).toHaveLength(2);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('an endpoint that keeps failing is retried until the window closes, the delivery marked failed and the endpoint paused', async () => {
    const ep = await createEndpoint();
    rx.fallback = { status: 500, body: 'x'.repeat(5000) };
    try {
      await emit({ doomed: true });
      for (let i = 0; i < 30; i++) {
        await worker().runOnce();
        const d = (await deliveries(ep.id))[0];
        if (d.status !== 'pending') break;
        t.clock.advance(40_000);
      }
      const d = (await deliveries(ep.id))[0];
      expect(d).toMatchObject({ status: 'failed', responseStatus: 500 });
      expect(d.attempts).toBeGreaterThan(3);
      expect(Buffer.byteLength(d.responseBody)).toBeLessThanOrEqual(1024);
      const e = (await A('GET', `${hooks()}/${ep.id}`)).data;
      expect(e).toMatchObject({ status: 'paused', pausedReason: 'failing' });
      // While paused nothing is sent; resuming clears the streak.
      await emit({ whilePaused: true });
      const before = rx.received.length;
      await worker().runOnce();
      expect(rx.received.length).toBe(before);
      const resumed = await A('PATCH', `${hooks()}/${ep.id}`, { paused: false });
      expect(resumed.data).toMatchObject({ status: 'active', pausedReason: null, failingSince: null });
    } finally {
      rx.fallback = { status: 204 };
      await A('DELETE', `${hooks()}/${ep.id}`);
    }
  });

  it('a rotated secret signs beside the previous one during the overlap; redelivery resends the same webhook-id', async () => {
    const ep = await createEndpoint();
    const rot = await A('POST', `${hooks()}/${ep.id}/rotate-secret`, { overlapSeconds: 3600 });
    expect(rot.statusCode, rot.body).toBe(200);
    expect(rot.headers['cache-control']).toContain('no-store');
    expect(rot.data.secret).not.toBe(ep.secret);
    expect(rot.data.previousSecretValidUntil).not.toBeNull();
    rx.received.length = 0;
    const id = await emit({ rotated: true });
    await worker().runOnce();
    const m = rx.received[0]!;
    expect(m.signature.split(' ')).toHaveLength(2);
    expect(verify(ep.secret, m).data).toEqual({ rotated: true });
    expect(verify(rot.data.secret, m).data).toEqual({ rotated: true });
    const first = (await deliveries(ep.id))[0];
    const again = await A('POST', `${hooks()}/${ep.id}/deliveries/${first.id}/redeliver`);
    expect(again.statusCode, again.body).toBe(202);
    expect(again.data).toMatchObject({ eventId: id, status: 'pending', attempts: 0 });
    // After the overlap only the new secret signs.
    t.clock.advance(3_601_000);
    await worker().runOnce();
    const m2 = rx.received[1]!;
    expect(m2.id).toBe(id);
    expect(m2.signature.split(' ')).toHaveLength(1);
    expect(() => verify(ep.secret, m2)).toThrow(/signature/);
    expect(verify(rot.data.secret, m2).data).toEqual({ rotated: true });
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('checks the resolved address at delivery: a name resolving to the metadata service or to 10.x is refused without connecting', async () => {
    // Registered while harmless-looking; the names resolve to forbidden addresses when delivering.
    const meta = await createEndpoint({ url: 'http://metadata.test/latest/meta-data' });
    const intra = await createEndpoint({ url: 'http://intranet.test/hook' });
    const before = fence.connects.length;
    await emit({ ssrf: true });
    expect(await worker().runOnce()).toBeGreaterThanOrEqual(2);
    expect((await deliveries(meta.id))[0]).toMatchObject({ status: 'pending', responseStatus: null, lastError: expect.stringContaining('169.254.169.254') });
    // WEBHOOK_ALLOW_PRIVATE=true admits 10.x (this app's setting); the link-local metadata address never is.
    expect(fence.connects.slice(before)).not.toContain('169.254.169.254');
    expect(fence.violations).toEqual(['10.1.2.3:80']);
    fence.violations.length = 0;
    await A('DELETE', `${hooks()}/${meta.id}`);
    await A('DELETE', `${hooks()}/${intra.id}`);
  });
});

describe('admin routes', () => {
  it('create → list → get → update → pause → delete; the secret is shown only at creation; every change is audited', async () => {
    const created = await A('POST', hooks(), { url: 'https://hooks.example.com/in', eventTypes: ['user.created', 'user.created', 'mfa.disabled'], description: 'CRM' });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.data.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.data).toMatchObject({ url: 'https://hooks.example.com/in', eventTypes: ['user.created', 'mfa.disabled'], status: 'active', tenantId });
    const id = created.data.id;
    const list = await A('GET', hooks());
    expect(list.data.items.map((e: any) => e.id)).toContain(id);
    const got = await A('GET', `${hooks()}/${id}`);
    expect(got.data.secret).toBeUndefined();
    expect(JSON.stringify(list.data)).not.toContain(created.data.secret);
    const upd = await A('PATCH', `${hooks()}/${id}`, { eventTypes: ['*'], url: 'https://hooks.example.com/v2' });
    expect(upd.data).toMatchObject({ eventTypes: ['*'], url: 'https://hooks.example.com/v2' });
    expect((await pause(id)).data).toMatchObject({ status: 'paused', pausedReason: 'manual' });
    // The stored secret is sealed, not the plaintext.
    const row = await t.stores.sql.ownerQuery<{ secret_box: string }>('SELECT secret_box FROM webhook_endpoints WHERE id = $1', [id]);
    expect(row.rows[0]!.secret_box).not.toContain(created.data.secret.slice(6, 20));
    expect((await A('DELETE', `${hooks()}/${id}`)).statusCode).toBe(204);
    expect((await A('GET', `${hooks()}/${id}`)).statusCode).toBe(404);
    const audit = await A('GET', `/auth/admin/audit?tenantId=${tenantId}&limit=200`);
    const actions = audit.data.items.filter((a: any) => a.target === id).map((a: any) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['webhook.create', 'webhook.update', 'webhook.delete']));
    expect(JSON.stringify(audit.data)).not.toContain(created.data.secret);
  });

  it('bad input → 400 validation_failed, nothing created', async () => {
    const count = async () => Number((await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM webhook_endpoints')).rows[0]!.n);
    const n = await count();
    for (const body of [
      { url: 'not a url', eventTypes: ['*'] },
      { url: 'ftp://x.example.com/', eventTypes: ['*'] },
      { url: 'https://user:pw@x.example.com/', eventTypes: ['*'] },
      { url: 'http://169.254.169.254/latest/meta-data', eventTypes: ['*'] },
      { url: 'http://[::ffff:169.254.169.254]/', eventTypes: ['*'] },
      { url: 'https://x.example.com/', eventTypes: [] },
      { url: 'https://x.example.com/', eventTypes: ['user.exploded'] },
      { url: 'https://x.example.com/', eventTypes: ['*'], secret: 'mine' },
      { url: 'https://x.example.com/'.padEnd(3000, 'a'), eventTypes: ['*'] },
      { eventTypes: ['*'] },
    ]) {
      const res = await A('POST', hooks(), body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.data).toMatchObject({ error: 'validation_failed', message: expect.any(String), requestId: expect.any(String) });
    }
    expect(await count()).toBe(n);
    const ep = await createEndpoint();
    expect((await A('PATCH', `${hooks()}/${ep.id}`, {})).statusCode).toBe(400);
    expect((await A('PATCH', `${hooks()}/${ep.id}`, { paused: 'yes' })).statusCode).toBe(400);
    expect((await A('POST', `${hooks()}/${ep.id}/rotate-secret`, { overlapSeconds: -1 })).statusCode).toBe(400);
    expect((await A('GET', `${hooks()}/not-a-uuid`)).statusCode).toBe(400);
    expect((await A('GET', `${hooks()}/${ep.id}/deliveries?status=lost`)).statusCode).toBe(400);
    await A('DELETE', `${hooks()}/${ep.id}`);
  });

  it('hostile clients: no credential → 401; a user token or ck_ key → 403; another tenant\'s endpoint under this tenant → 404, unchanged', async () => {
    const mine = await createEndpoint();
    const user = await register(t.app);
    const paths: ['GET' | 'POST' | 'PATCH' | 'DELETE', string, unknown?][] = [
      ['GET', hooks()], ['POST', hooks(), { url: 'https://x.example.com/', eventTypes: ['*'] }], ['GET', `${hooks()}/${mine.id}`],
      ['PATCH', `${hooks()}/${mine.id}`, { paused: true }], ['DELETE', `${hooks()}/${mine.id}`], ['POST', `${hooks()}/${mine.id}/rotate-secret`, {}],
      ['GET', `${hooks()}/${mine.id}/deliveries`],
    ];
    for (const [m, u, body] of paths) {
      expect((await call(t.app, { method: m, url: u, json: body })).statusCode, `${m} ${u}`).toBe(401);
      expect((await A(m, u, body, user.accessToken)).statusCode, `${m} ${u}`).toBe(403);
      expect((await A(m, u, body, user.body.apiKey)).statusCode, `${m} ${u}`).toBe(403);
    }
    // Addressed through the other tenant (RLS scopes the lookup): not found, and nothing changes.
    const other = hooks(otherTenantId);
    for (const [m, u, body] of [
      ['GET', `${other}/${mine.id}`], ['PATCH', `${other}/${mine.id}`, { paused: true }], ['DELETE', `${other}/${mine.id}`],
      ['POST', `${other}/${mine.id}/rotate-secret`, {}], ['GET', `${other}/${mine.id}/deliveries`],
      ['POST', `${other}/${mine.id}/deliveries/${crypto.randomUUID()}/redeliver`],
    ] as const) {
      const res = await A(m, u, body);
      expect(res.statusCode, `${m} ${u}`).toBe(404);
      expect(res.data.error).toBe('not_found');
    }
    expect((await A('GET', hooks(crypto.randomUUID()))).statusCode).toBe(404);
    expect((await A('GET', other)).data.items).toEqual([]);
    expect((await A('GET', `${hooks()}/${mine.id}`)).data).toMatchObject({ status: 'active' });
    await A('DELETE', `${hooks()}/${mine.id}`);
  });

  it('RLS: another tenant\'s scope sees none of the endpoints, events or deliveries, and cannot write rows for this tenant', async () => {
    const ep = await createEndpoint();
    await emit({ rls: true });
    const seen = await t.deps.sql.tx(otherTenantId, async (tx) => ({
      endpoints: (await tx.query('SELECT id FROM webhook_endpoints')).rows.length,
      events: (await tx.query('SELECT id FROM webhook_events')).rows.length,
      deliveries: (await tx.query('SELECT id FROM webhook_deliveries')).rows.length,
      direct: await webhookStore.endpoint(tx, ep.id),
    }));
    expect(seen).toEqual({ endpoints: 0, events: 0, deliveries: 0, direct: null });
    const own = await t.deps.sql.tx(tenantId, async (tx) => (await tx.query('SELECT id FROM webhook_deliveries')).rows.length);
    expect(own).toBeGreaterThan(0);
    await expect(t.deps.sql.tx(otherTenantId, (tx) => webhookStore.insertEvent(tx, { id: 'msg_forged', tenantId, type: 'user.updated', payload: '{}', now: new Date() }))).rejects.toThrow();
    // An event of this tenant, even emitted from a cross-tenant transaction, goes to this tenant's endpoints only.
    const theirs = await A('POST', hooks(otherTenantId), { url: rx.url, eventTypes: ['*'] });
    expect(theirs.statusCode, theirs.body).toBe(201);
    await t.deps.sql.tx(ALL_TENANTS, (tx) => t.deps.services.webhooks.emit(tx, tenantId, 'user.updated', { scope: 'all' }));
    expect((await A('GET', `${hooks(otherTenantId)}/${theirs.data.id}/deliveries`)).data.total).toBe(0);
    await A('DELETE', `${hooks(otherTenantId)}/${theirs.data.id}`);
    await A('PATCH', `${hooks()}/${ep.id}`, { paused: true });
    await worker().runOnce();
    await A('DELETE', `${hooks()}/${ep.id}`);
  });
});

describe('the poller', () => {
  it('started, it delivers an event shortly after the commit without being asked', async () => {
    const ep = await createEndpoint();
    rx.received.length = 0;
    const svc = t.deps.services.webhooks;
    svc.worker.start();
    try {
      const id = await emit({ polled: true });
      const until = Date.now() + 5000;
      while (!rx.received.some((m) => m.id === id) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(rx.received.map((m) => m.id)).toContain(id);
    } finally {
      await svc.worker.stop();
      await A('DELETE', `${hooks()}/${ep.id}`);
    }
  });
});
