import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANTS } from '../../../src/db/scope.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/http/logger.js';
import { createWebhookRetention } from '../../../src/modules/webhooks/retention.js';
import { webhookStore } from '../../../src/modules/webhooks/store.js';
import { BACKEND } from '../../helpers/backend.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { fencedTransport, startReceiver, type Receiver } from '../../helpers/webhook-receiver.js';

/**
 * Webhook retention (WEBHOOK_RETENTION_DAYS, src/modules/webhooks/retention.ts) on the current backend, with
 * the app's injected clock moved by days: finished deliveries past the retention go, then the events no
 * delivery refers to; pending and recent ones stay; each tenant's rows are deleted in that tenant's scope;
 * two instances' passes share the work; a pass racing redeliveries never loses a pending delivery.
 * No packet leaves loopback (fenced transport).
 */
let t: TestApp;
let b: Awaited<ReturnType<TestApp['second']>>;
let admin: { key: string };
let tenantId: string;
let otherTenantId: string;
let rx: Receiver;
const fence = fencedTransport({});
const DAY = 86_400_000;
const RETENTION_DAYS = 30;
const RETRY_WINDOW_S = 300;

const A = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, json?: unknown) => call(t.app, { method, url, json, token: admin.key });
const hooks = (tenant = tenantId) => `/auth/admin/tenants/${tenant}/webhooks`;
const webhooks = () => t.deps.services.webhooks;

async function createEndpoint(tenant = tenantId): Promise<string> {
  const res = await A('POST', hooks(tenant), { url: rx.url, eventTypes: ['*'] });
  expect(res.statusCode, res.body).toBe(201);
  return res.data.id;
}
const emit = (data: Record<string, unknown>, tenant = tenantId) =>
  t.deps.sql.tx(tenant, (tx) => webhooks().emit(tx, tenant, 'user.updated', data)) as Promise<string>;

/** Every delivery and event row, read as the owner (RLS does not apply): what is really left in the tables. */
async function rows(): Promise<{ deliveries: Map<string, { event_id: string; endpoint_id: string; status: string; tenant_id: string }>; events: Set<string> }> {
  const d = await t.deps.sql.ownerQuery<{ id: string; event_id: string; endpoint_id: string; status: string; tenant_id: string }>(
    'SELECT id, event_id, endpoint_id, status, tenant_id FROM webhook_deliveries');
  const e = await t.deps.sql.ownerQuery<{ id: string }>('SELECT id FROM webhook_events');
  return { deliveries: new Map(d.rows.map((r) => [r.id, r])), events: new Set(e.rows.map((r) => r.id)) };
}
const deliveryIds = async (eventId: string, endpointId?: string) =>
  [...(await rows()).deliveries].filter(([, r]) => r.event_id === eventId && (endpointId === undefined || r.endpoint_id === endpointId)).map(([id]) => id);

beforeAll(async () => {
  t = await createTestApp({
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETENTION_DAYS: String(RETENTION_DAYS), WEBHOOK_RETRY_WINDOW_SECONDS: String(RETRY_WINDOW_S), WEBHOOK_TIMEOUT_MS: '2000' },
    webhookTransport: fence.transport,
  });
  admin = await t.deps.adminKeys.create({ name: 'ops', expiresInDays: 365 });
  tenantId = (await t.deps.tenants.resolve('default'))!.id;
  const other = await A('POST', '/auth/admin/tenants', { slug: 'retention-other', name: 'Other' });
  expect(other.statusCode, other.body).toBe(201);
  otherTenantId = other.data.id;
  rx = await startReceiver();
  b = await t.second();
});
afterAll(async () => {
  expect(fence.violations).toEqual([]);
  await rx?.close();
  await t?.close();
});

describe(`webhook retention (${BACKEND})`, () => {
  it('WEBHOOK_RETENTION_DAYS: 30 by default, 0 keeps everything, anything but a whole number from 0 to 3650 is refused', () => {
    const base = { AUTH_SECRET: 'x'.repeat(48) };
    expect(loadConfig(base).webhooks.retentionMs).toBe(30 * DAY);
    expect(loadConfig({ ...base, WEBHOOK_RETENTION_DAYS: '0' }).webhooks.retentionMs).toBe(0);
    for (const bad of ['-1', '3651', '1.5', 'ten']) expect(() => loadConfig({ ...base, WEBHOOK_RETENTION_DAYS: bad }), bad).toThrow(/WEBHOOK_RETENTION_DAYS/);
  });

  it('deletes delivered and failed deliveries older than the retention, then their events; pending and recent ones stay', async () => {
    const ep = await createEndpoint();
    const parked = await createEndpoint();
    const statusOf = async (eventId: string, endpointId: string) =>
      (await A('GET', `${hooks()}/${endpointId}/deliveries?limit=100`)).data.items.filter((d: any) => d.eventId === eventId).map((d: any) => d.status);
    // delivered
    const delivered = await emit({ n: 'delivered' });
    await webhooks().worker.runOnce();
    expect(await statusOf(delivered, ep)).toEqual(['succeeded']);
    // failed: the receiver refuses until the retry window has closed
    const failedEndpoint = await createEndpoint();
    expect((await A('PATCH', `${hooks()}/${ep}`, { paused: true })).statusCode).toBe(200);
    expect((await A('PATCH', `${hooks()}/${parked}`, { paused: true })).statusCode).toBe(200);
    rx.fallback = { status: 500 };
    const failed = await emit({ n: 'failed' });
    await webhooks().worker.runOnce();
    t.clock.advance(RETRY_WINDOW_S * 1000 + 1000);
    await webhooks().worker.runOnce();
    rx.fallback = { status: 204 };
    expect(await statusOf(failed, failedEndpoint)).toEqual(['failed']);
    await A('DELETE', `${hooks()}/${failedEndpoint}`);
    expect((await A('PATCH', `${hooks()}/${ep}`, { paused: false })).statusCode).toBe(200);
    expect((await A('PATCH', `${hooks()}/${parked}`, { paused: false })).statusCode).toBe(200);
    // pending: one of its two endpoints is paused before the worker gets to it, so that delivery waits (as long as the pause lasts)
    const pending = await emit({ n: 'pending' });
    expect((await A('PATCH', `${hooks()}/${parked}`, { paused: true })).statusCode).toBe(200);
    await webhooks().worker.runOnce();
    expect(await statusOf(pending, ep)).toEqual(['succeeded']);
    expect(await statusOf(pending, parked)).toEqual(['pending']);
    // Just inside the retention nothing goes.
    t.clock.advance(RETENTION_DAYS * DAY - RETRY_WINDOW_S * 1000 - 2000);
    expect(await webhooks().retention.runOnce()).toMatchObject({ deliveries: 0, events: 0 });
    // 31 days on: a fresh event is delivered today and must stay.
    t.clock.advance(DAY);
    const recent = await emit({ n: 'recent' });
    await webhooks().worker.runOnce();
    const before = await rows();
    const r = await webhooks().retention.runOnce();
    const after = await rows();
    // The delivered and failed events went with all their deliveries.
    for (const ev of [delivered, failed]) {
      expect(after.events.has(ev), ev).toBe(false);
      expect([...after.deliveries.values()].some((d) => d.event_id === ev)).toBe(false);
    }
    // The pending event stays: its parked delivery is pending, so the event cannot go; its finished delivery to `ep` did.
    expect(after.events.has(pending)).toBe(true);
    expect([...after.deliveries.values()].filter((d) => d.event_id === pending).map((d) => d.status)).toEqual(['pending']);
    // The recent event and its deliveries stay.
    expect(after.events.has(recent)).toBe(true);
    expect([...after.deliveries.values()].filter((d) => d.event_id === recent).every((d) => d.status === 'succeeded')).toBe(true);
    expect(r.deliveries).toBe(before.deliveries.size - after.deliveries.size);
    expect(r.events).toBe(before.events.size - after.events.size);
    expect(r.events).toBeGreaterThanOrEqual(2);
    // The API no longer lists them; a second pass finds nothing more.
    expect((await A('GET', `${hooks()}/${ep}/deliveries`)).data.items.map((d: any) => d.eventId)).not.toContain(delivered);
    expect(await webhooks().retention.runOnce()).toMatchObject({ deliveries: 0, events: 0 });
    // The pending delivery is still sent once its endpoint resumes.
    rx.received.length = 0;
    expect((await A('PATCH', `${hooks()}/${parked}`, { paused: false })).statusCode).toBe(200);
    await webhooks().worker.runOnce();
    expect(rx.received.map((m) => m.id)).toContain(pending);
    for (const id of [ep, parked]) await A('DELETE', `${hooks()}/${id}`);
  });

  it("each tenant's rows are deleted in that tenant's own scope: a pass in one tenant's scope cannot reach another's", async () => {
    const mine = await createEndpoint();
    const theirs = await createEndpoint(otherTenantId);
    const ev = await emit({ tenant: 'default' });
    const otherEv = await emit({ tenant: 'other' }, otherTenantId);
    await webhooks().worker.runOnce();
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    const cutoff = new Date(t.clock.nowMs() - RETENTION_DAYS * DAY);
    // RLS: in the default tenant's scope, naming the other tenant deletes nothing.
    expect(await t.deps.sql.tx(tenantId, (tx) => webhookStore.deleteExpiredDeliveries(tx, otherTenantId, cutoff, 100))).toBe(0);
    expect(await deliveryIds(otherEv)).toHaveLength(1);
    // The cross-tenant read names both tenants; the pass then deletes each one's rows in its own scope.
    const tenants = await t.deps.sql.tx(ALL_TENANTS, (tx) => webhookStore.tenantsWithExpired(tx, cutoff, 100));
    expect(tenants).toEqual(expect.arrayContaining([tenantId, otherTenantId]));
    const r = await webhooks().retention.runOnce();
    expect(r.deliveries).toBeGreaterThanOrEqual(2);
    const left = await rows();
    expect(left.events.has(ev)).toBe(false);
    expect(left.events.has(otherEv)).toBe(false);
    await A('DELETE', `${hooks()}/${mine}`);
    await A('DELETE', `${hooks(otherTenantId)}/${theirs}`);
  });

  it('two instances running passes at once delete every expired row exactly once, in small batches, without waiting on each other', async () => {
    const ep = await createEndpoint();
    const events: string[] = [];
    for (let i = 0; i < 24; i++) events.push(await emit({ i }));
    await webhooks().worker.runOnce();
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    const log = createLogger('silent');
    const pass = (sql: typeof t.deps.sql) => createWebhookRetention({ sql, clock: t.clock, log, options: { retentionMs: RETENTION_DAYS * DAY, batch: 4, maxBatches: 100 } });
    const [one, two] = await Promise.all([pass(t.deps.sql).runOnce(), pass(b.deps.sql).runOnce()]);
    expect(one.deliveries + two.deliveries).toBe(24);
    expect(one.events + two.events).toBe(24);
    const left = await rows();
    for (const ev of events) expect(left.events.has(ev)).toBe(false);
    // A capped pass says so: more rows were left for the next one.
    for (let i = 0; i < 6; i++) await emit({ i });
    await webhooks().worker.runOnce();
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    const capped = createWebhookRetention({ sql: t.deps.sql, clock: t.clock, log, options: { retentionMs: RETENTION_DAYS * DAY, batch: 2, maxBatches: 1 } });
    expect(await capped.runOnce()).toMatchObject({ deliveries: 2, more: true });
    await expect(createWebhookRetention({ sql: t.deps.sql, clock: t.clock, log, options: { retentionMs: 0 } }).runOnce()).resolves.toMatchObject({ deliveries: 0, events: 0 });
    await webhooks().retention.runOnce();
    await A('DELETE', `${hooks()}/${ep}`);
  });

  it('the database refuses to delete an event that still has a pending delivery (the backstop of every race)', async () => {
    const ep = await createEndpoint();
    const ev = await emit({ backstop: true });
    const err = await t.deps.sql.tx(ALL_TENANTS, (tx) => tx.query('DELETE FROM webhook_events WHERE id = $1', [ev])).then(() => null, (e: unknown) => e as { code?: string });
    // restrict_violation (ON DELETE RESTRICT, migration 0017): Postgres 17 (PGlite) reports 23001, Postgres 15 23503.
    expect(['23001', '23503']).toContain(err?.code);
    expect(await deliveryIds(ev)).toHaveLength(1);
    await webhooks().worker.runOnce();
    await A('DELETE', `${hooks()}/${ep}`);
  });

  it('a pass racing redeliveries of expired deliveries never loses a pending one: each redelivery is either kept and sent, or answered 404', async () => {
    const ep = await createEndpoint();
    const events: string[] = [];
    for (let i = 0; i < 12; i++) events.push(await emit({ race: i }));
    await webhooks().worker.runOnce();
    const listed = (await A('GET', `${hooks()}/${ep}/deliveries?limit=100`)).data.items as { id: string; eventId: string }[];
    const old = events.map((e) => listed.find((d) => d.eventId === e)!);
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    // Redeliveries through both instances, interleaved with passes on both.
    const redeliver = (app: typeof t.app, d: { id: string }) =>
      call(app, { method: 'POST', url: `${hooks()}/${ep}/deliveries/${d.id}/redeliver`, token: admin.key });
    const results = await Promise.all([
      ...old.map((d, i) => redeliver(i % 2 ? b.app : t.app, d)),
      webhooks().retention.runOnce(),
      b.deps.services.webhooks.retention.runOnce(),
      webhooks().retention.runOnce(),
    ]);
    const answers = results.slice(0, old.length) as Awaited<ReturnType<typeof redeliver>>[];
    for (const a of answers) expect([202, 404], a.body).toContain(a.statusCode);
    const kept = answers.filter((a) => a.statusCode === 202).map((a) => a.data as { id: string; eventId: string });
    // Another pass after the dust settles: every accepted redelivery is still there, pending, with its event.
    await webhooks().retention.runOnce();
    const left = await rows();
    for (const k of kept) {
      expect(left.deliveries.get(k.id)?.status, k.id).toBe('pending');
      expect(left.events.has(k.eventId)).toBe(true);
    }
    // …and is delivered.
    rx.received.length = 0;
    await webhooks().worker.runOnce();
    expect(new Set(rx.received.map((m) => m.id))).toEqual(new Set(kept.map((k) => k.eventId)));
    // A 404 means the event is gone: nothing was queued for it.
    for (const [i, a] of answers.entries()) if (a.statusCode === 404) expect(left.events.has(old[i]!.eventId)).toBe(false);
    await A('DELETE', `${hooks()}/${ep}`);
  });

  it.runIf(BACKEND === 'services')('a redelivery whose transaction is still open holds its event: a pass meanwhile skips it without waiting, and the delivery survives', async () => {
    const ep = await createEndpoint();
    const ev = await emit({ held: true });
    await webhooks().worker.runOnce();
    const [oldDelivery] = await deliveryIds(ev, ep);
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let inserted!: () => void;
    const insertedP = new Promise<void>((r) => { inserted = r; });
    const newId = crypto.randomUUID();
    // The redelivery's transaction (service.redeliver's statements), stopped before its commit.
    const redelivery = b.deps.sql.tx(tenantId, async (tx) => {
      expect(await webhookStore.delivery(tx, ep, oldDelivery!)).not.toBeNull();
      expect(await webhookStore.holdEvent(tx, ev)).toBe(true);
      await webhookStore.insertDelivery(tx, { id: newId, tenantId, eventId: ev, endpointId: ep, now: t.clock.now(), giveUpAt: new Date(t.clock.nowMs() + 60_000) });
      inserted();
      await held;
    });
    await insertedP;
    // The old finished delivery goes; the event is held (SKIP LOCKED): the pass neither deletes nor waits for it.
    const r = await webhooks().retention.runOnce();
    expect(r.deliveries).toBeGreaterThanOrEqual(1);
    release();
    await redelivery;
    const left = await rows();
    expect(left.deliveries.get(newId)?.status).toBe('pending');
    expect(left.deliveries.has(oldDelivery!)).toBe(false);
    expect(left.events.has(ev)).toBe(true);
    // Still there after the next pass (it has a pending delivery now), and sent.
    await webhooks().retention.runOnce();
    expect((await rows()).events.has(ev)).toBe(true);
    rx.received.length = 0;
    await webhooks().worker.runOnce();
    expect(rx.received.map((m) => m.id)).toContain(ev);
    await A('DELETE', `${hooks()}/${ep}`);
  });
});
