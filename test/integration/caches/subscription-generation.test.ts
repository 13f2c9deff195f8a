import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { parts, raiseLimits } from '../../helpers/identity.js';
import { createOrg, join, user } from '../orgs/org-helpers.js';
import type { Kv } from '../../../src/kv/kv.js';
import type { Sql } from '../../../src/db/sql.js';
import type { SessionPrincipal } from '../../../src/http/principal.js';
import { createManualClock } from '../../../src/lib/clock.js';
import { createAuthzCache } from '../../../src/modules/authz/cache.js';
import { createTenantService } from '../../../src/modules/tenants/service.js';
import { createUserService } from '../../../src/modules/users/service.js';
import { createApiKeyVerifier } from '../../../src/modules/api-keys/verify.js';
import { createSessionRevocations } from '../../../src/modules/sessions/revocations.js';
import { createSessionStore } from '../../../src/modules/sessions/session-store.js';
import { createSessionCheckCache } from '../../../src/modules/sessions/check-cache.js';
import { createMcpBearer } from '../../../src/modules/mcp/bearer.js';

/**
 * Every cache that relies on pub/sub invalidation, against the store's subscription generation
 * (Kv.subscriptionGeneration, issue 26). The real caches run on the real stores of this backend; only the
 * generation is driven by the test (the in-process store never disconnects; the Redis reconnects are in
 * test/security/caches-after-pubsub-reconnect.test.ts). For each cache: what it holds is not served while
 * the subscriber is down nor after it is back, and a read that started before a reconnect (the generation
 * moves while the read is in flight: `reconnectDuringNextRead`) is not kept — while the same read without a
 * reconnect is (the control, so the check can see a kept entry).
 */
let t: TestApp;
let generation = 1;
let reconnectDuringNextRead = false;
let sqlReads = 0;
const down = () => { if (generation % 2 === 1) generation++; };
const back = () => { if (generation % 2 === 0) generation++; };
/** Called by the wrapped stores at the start of a read: a reconnect lands while the read is in flight. */
const readStarts = () => {
  if (reconnectDuringNextRead) { reconnectDuringNextRead = false; down(); back(); }
};

let kv: Kv;
let sql: Sql;
const clock = createManualClock();
const log = pino({ level: 'silent' });

beforeAll(async () => {
  t = await createTestApp();
  await raiseLimits(t);
  const real = t.stores.kv;
  kv = {
    ...real,
    subscriptionGeneration: () => generation,
    subscriptionsLive: () => generation % 2 === 1,
    mget: (keys) => { readStarts(); return real.mget(keys); },
  };
  sql = { ...t.stores.sql, tx: (scope, fn) => { sqlReads++; readStarts(); return t.stores.sql.tx(scope, fn); } };
});
afterAll(async () => { await t?.close(); });
beforeEach(() => { reconnectDuringNextRead = false; back(); });

/**
 * The shared check: `load()` reads through the cache, `cached()` is the cache's answer without I/O
 * (undefined = not cached). Runs the outage, reconnect and read-then-fill cases.
 */
async function generationRules(load: () => Promise<unknown>, cached: () => unknown): Promise<void> {
  await load();
  expect(cached(), 'control: a read is kept').toBeDefined();
  down();
  expect(cached(), 'served while the subscriber is down').toBeUndefined();
  await load();
  expect(cached(), 'kept from a read while the subscriber is down').toBeUndefined();
  back();
  expect(cached(), 'served after the reconnect from before it').toBeUndefined();
  reconnectDuringNextRead = true;
  await load();
  expect(reconnectDuringNextRead).toBe(false);
  expect(cached(), 'kept from a read that started before a reconnect').toBeUndefined();
  await load();
  expect(cached(), 'control: a read after the reconnect is kept').toBeDefined();
}

/** The same rules for a cache without an I/O-free accessor: `probe()` reads through it, true when it was served from memory. */
async function probeRules(probe: () => Promise<true | undefined>): Promise<void> {
  await probe();
  expect(await probe(), 'control: a read is kept').toBe(true);
  down();
  expect(await probe(), 'served while the subscriber is down').toBeUndefined();
  back();
  expect(await probe(), 'kept from a read while the subscriber is down').toBeUndefined();
  expect(await probe(), 'control').toBe(true);
  down(); back();
  expect(await probe(), 'served after the reconnect from before it').toBeUndefined();
  down(); back(); // empties the cache, so that the next probe reads
  reconnectDuringNextRead = true;
  await probe();
  expect(reconnectDuringNextRead).toBe(false);
  expect(await probe(), 'kept from a read that started before a reconnect').toBeUndefined();
  expect(await probe(), 'control: a read after the reconnect is kept').toBe(true);
}

describe(`every pub/sub-invalidated cache follows the subscription generation (${BACKEND})`, () => {
  it('the authz cache (org policies, roles, memberships)', async () => {
    const owner = await user(t, { prefix: 'owner' });
    const x = await user(t, { prefix: 'x' });
    const org = await createOrg(t.app, owner.accessToken);
    await join(t.app, owner.accessToken, org.id, x, ['member']);
    const tenantId = parts(x.accessToken).payload.tid as string;
    const cache = createAuthzCache({ sql, kv, clock, log });
    await generationRules(
      () => cache.orgAndMember(tenantId, org.id, x.userId),
      () => cache.cachedOrgAndMember(tenantId, org.id, x.userId),
    );
  });

  it('the tenant cache', async () => {
    const tenants = createTenantService({ sql, kv, clock });
    const id = (await t.deps.tenants.resolve('default'))!.id;
    await generationRules(() => tenants.byId(id), () => tenants.cachedById(id));
  });

  it('the API-key cache', async () => {
    const u = await user(t, { prefix: 'key' });
    const created = await call(t.app, { method: 'POST', url: '/auth/api-keys', token: u.accessToken, json: { name: 'k', scopes: ['*'] } });
    expect(created.statusCode, created.body).toBe(201);
    const key = created.data.apiKey as string;
    const verifier = createApiKeyVerifier({ sql, kv, clock, log });
    await generationRules(() => verifier.authenticate(key), () => verifier.authenticateCached(key));
    // POST /api-key/validate's answer without I/O follows the same rules.
    await generationRules(() => verifier.check(key), () => verifier.checkCached(key));
    await verifier.settled();
  });

  it('the bearer session-check cache', async () => {
    const u = await user(t, { prefix: 'bearer' });
    const { tid, sub, sid, jti } = parts(u.accessToken).payload as { tid: string; sub: string; sid: string; jti: string };
    const revocations = createSessionRevocations({ kv, log });
    const checkCache = createSessionCheckCache({ ttlMs: 5_000, max: 100, now: () => clock.nowMs(), generation: revocations.generation });
    const store = revocations.wrap(createSessionStore(kv), { checkCache });
    await generationRules(() => store.check(tid, sub, sid, jti), () => store.checkCached(tid, sid, jti));
  });

  it('the MCP bearer cache', async () => {
    const u = await user(t, { prefix: 'mcp' });
    const principal = await t.deps.services.sessions.authenticate(u.accessToken, false);
    const revocations = createSessionRevocations({ kv, log });
    let verified = 0;
    const bearer = createMcpBearer({
      config: t.config, clock, generation: revocations.generation,
      sessions: { authenticate: async (): Promise<SessionPrincipal> => { verified++; readStarts(); return principal; } },
    });
    const headers = { authorization: `Bearer ${u.accessToken}` };
    // The bearer has no answer without I/O: "cached" = authenticating again needs no session check.
    const cachedNow = async () => {
      const before = verified;
      await bearer.authenticate(headers);
      return verified === before ? true : undefined;
    };
    const probe = cachedNow;
    await probeRules(probe);
  });

  it('the user-profile cache', async () => {
    const u = await user(t, { prefix: 'profile' });
    const tenantId = parts(u.accessToken).payload.tid as string;
    const users = createUserService({ sql, kv, clock, sessions: { endAllIn: async () => 0 } });
    // The profile has no answer without I/O: "cached" = the read cost no SQL round trip.
    const probe = async () => {
      const before = sqlReads;
      expect(await users.profile(tenantId, u.userId)).not.toBeNull();
      return sqlReads === before ? true : undefined;
    };
    await probeRules(probe);
    // GET /user's answer without I/O follows the same rules.
    await generationRules(() => users.profile(tenantId, u.userId), () => users.profileCached(tenantId, u.userId));
  });
});
