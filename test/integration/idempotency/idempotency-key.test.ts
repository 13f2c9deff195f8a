import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../../src/deps.js';
import { AppError } from '../../../src/http/errors.js';
import { errorResponses } from '../../../src/http/schemas.js';
import type { ModuleDef } from '../../../src/modules/module.js';
import { sha256Hex, randomToken } from '../../../src/lib/crypto.js';
import { kvKey } from '../../../src/kv/kv.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';

/**
 * VAL-03 / VAL-04: Idempotency-Key on POST routes declaring `idempotent: true`, through a probe route
 * that creates a "thing" (counts executions) and returns a secret, as POST /api-keys does.
 */
const executions: { principal: string; name: string }[] = [];

function idempotentProbe(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.post('/probe/things', {
      config: { auth: 'user', idempotent: true },
      schema: {
        operationId: 'probeCreateThing',
        body: z.object({ name: z.string().min(1).max(50), fail: z.boolean().optional(), slowMs: z.number().int().min(0).max(2000).optional() }).strict(),
        response: { 201: z.object({ id: z.uuid(), name: z.string(), secret: z.string(), n: z.number() }), ...errorResponses(400, 401, 403) },
      },
    }, async (req, reply) => {
      const p = req.auth!;
      executions.push({ principal: p.kind === 'session' ? p.userId : p.kind, name: req.body.name });
      if (req.body.slowMs) await new Promise((res) => setTimeout(res, req.body.slowMs));
      if (req.body.fail) throw new AppError('forbidden', 'Refused by the probe.');
      reply.header('location', '/auth/probe/things/1');
      return reply.code(201).send({ id: randomUUID(), name: req.body.name, secret: `ck_${randomToken(32)}`, n: executions.length });
    });
    // Creates a row in Postgres (an org named `name`), holding its transaction open for `slowMs`.
    r.post('/probe/db-things', {
      config: { auth: 'user', idempotent: true },
      schema: {
        operationId: 'probeCreateDbThing',
        body: z.object({ name: z.string().min(1).max(50), slowMs: z.number().int().min(0).max(2000), failAfterCommit: z.boolean().optional() }).strict(),
        response: { 201: z.object({ id: z.uuid() }), ...errorResponses(400, 401, 403) },
      },
    }, async (req, reply) => {
      const tenantId = req.tenant!.id;
      const id = await t.deps.sql.tx(tenantId, async (tx) => {
        const row = (await tx.query<{ id: string }>('INSERT INTO orgs (tenant_id, name) VALUES ($1, $2) RETURNING id', [tenantId, req.body.name])).rows[0]!;
        await new Promise((res) => setTimeout(res, req.body.slowMs));
        return row.id;
      });
      // Like a denial audited in its own unit of work before the 403: a committed write, then an error answer.
      if (req.body.failAfterCommit) throw new AppError('forbidden', 'Refused by the probe after its write.');
      return reply.code(201).send({ id });
    });
  };
  return { name: 'idempotency-probe', plugin };
}

let t: TestApp;
let u1: { token: string; userId: string; email: string };
let u2: { token: string; userId: string; email: string };

async function register(tenant?: string) {
  const res = await call(t.app, {
    method: 'POST', url: '/auth/register', json: { email: `idem${randomUUID()}@example.com`, password: 'correct horse battery staple' },
    headers: tenant ? { 'x-tenant-id': tenant } : undefined,
  });
  expect(res.statusCode, res.body).toBe(200);
  return { token: res.data.tokens.accessToken as string, userId: res.data.user.id as string, email: res.data.user.email as string };
}

/** A fresh access token for `u` (after the clock moved past the token's 15 minutes); the principal is the same user. */
async function relogin(u: { token: string; email: string }) {
  const res = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: u.email, password: 'correct horse battery staple' } });
  expect(res.statusCode, res.body).toBe(200);
  u.token = res.data.tokens.accessToken;
}

const create = (who: { token: string }, body: Record<string, unknown>, key?: string, extra: Record<string, string> = {}) =>
  call(t.app, { method: 'POST', url: '/auth/probe/things', json: body, token: who.token, headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...extra } });

const ran = (name: string) => executions.filter((e) => e.name === name).length;

/** The stored record (Postgres, read as the owner) of a user's key on a route: its row as text, or null. */
async function storedRecord(userId: string, route: string, key: string): Promise<string | null> {
  const tenant = await t.deps.tenants.defaultTenant();
  const recordKey = kvKey(tenant.id, 'idem', sha256Hex([`user:${userId}`, 'POST', route, key].join('\n')));
  const { rows } = await t.stores.sql.ownerQuery<{ row: string; body: string }>('SELECT r::text AS row, body FROM idempotency_records r WHERE record_key = $1', [recordKey]);
  // The key–value store holds the running claim only, released once the request answered.
  expect(await t.deps.kv.get(recordKey)).toBeNull();
  return rows[0] ? rows[0].row : null;
}

beforeAll(async () => {
  t = await createTestApp({ extraModules: [idempotentProbe()] });
  u1 = await register();
  u2 = await register();
});
afterAll(async () => { await t?.close(); });

describe(`Idempotency-Key (${BACKEND})`, () => {
  it('the same key and body again replays the first response with Idempotent-Replayed: true, running once', async () => {
    const first = await create(u1, { name: 'A' }, 'k1');
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await create(u1, { name: 'A' }, 'k1');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.headers.location).toBe('/auth/probe/things/1');
    expect(again.headers['cache-control']).toBe('no-store');
    expect(ran('A')).toBe(1);
  });

  it('the same key with another body → 422 idempotency_key_reused, nothing runs', async () => {
    const res = await create(u1, { name: 'B' }, 'k1');
    expect(res.statusCode).toBe(422);
    expect(res.data.error).toBe('idempotency_key_reused');
    expect(ran('B')).toBe(0);
  });

  it('key order in the body does not matter (canonical fingerprint)', async () => {
    const a = await call(t.app, { method: 'POST', url: '/auth/probe/things', token: u1.token, headers: { 'idempotency-key': 'k-order', 'content-type': 'application/json' }, payload: '{"name":"O","slowMs":0}' });
    const b = await call(t.app, { method: 'POST', url: '/auth/probe/things', token: u1.token, headers: { 'idempotency-key': 'k-order', 'content-type': 'application/json' }, payload: '{"slowMs":0,"name":"O"}' });
    expect(a.statusCode).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(ran('O')).toBe(1);
  });

  it('two concurrent first requests with one key: one runs, the other gets 409 conflict; later a replay', async () => {
    const [a, b] = await Promise.all([create(u1, { name: 'C', slowMs: 300 }, 'k-race'), create(u1, { name: 'C', slowMs: 300 }, 'k-race')]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r.statusCode === 409)!.data.error).toBe('conflict');
    expect(ran('C')).toBe(1);
    const later = await create(u1, { name: 'C', slowMs: 300 }, 'k-race');
    expect(later.headers['idempotent-replayed']).toBe('true');
    expect(ran('C')).toBe(1);
  });

  it('malformed keys → 400 and nothing runs: empty, 10 KB, "*", a space, two headers', async () => {
    for (const key of ['', 'x'.repeat(10 * 1024), 'a*b', '*', 'has space', 'x'.repeat(256)]) {
      const res = await create(u1, { name: 'D' }, key);
      expect(res.statusCode, JSON.stringify(key.slice(0, 20))).toBe(400);
      expect(res.data.error).toBe('validation_failed');
    }
    const two = await call(t.app, { method: 'POST', url: '/auth/probe/things', json: { name: 'D' }, token: u1.token, headers: { 'idempotency-key': ['k-a', 'k-b'] as unknown as string } });
    expect(two.statusCode).toBe(400);
    expect(ran('D')).toBe(0);
    expect((await create(u1, { name: 'D2' }, 'x'.repeat(255))).statusCode).toBe(201);
  });

  it('a key with CR/LF never reaches the handler (the HTTP parser or the check refuses it with 400)', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    const body = '{"name":"E"}';
    const raw = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end(`POST /auth/probe/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${u1.token}\r\nContent-Type: application/json\r\n`
          + `Idempotency-Key: abc\rInjected: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      });
      let out = '';
      s.on('data', (d) => { out += d; });
      s.on('close', () => resolve(out));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(ran('E')).toBe(0);
  });

  it('a failed first attempt is not stored: a retry with the same key runs again', async () => {
    expect((await create(u1, { name: 'F', fail: true }, 'k-fail')).statusCode).toBe(403);
    expect((await create(u1, { name: 'F', fail: true }, 'k-fail')).statusCode).toBe(403);
    expect(ran('F')).toBe(2);
  });

  it('24 hours and a minute later the key is new again', async () => {
    expect((await create(u1, { name: 'G' }, 'k-day')).statusCode).toBe(201);
    t.clock.advance(23 * 60 * 60_000);
    // A new access token of the same user: the record belongs to the user, not to one token.
    await relogin(u1);
    expect((await create(u1, { name: 'G' }, 'k-day')).headers['idempotent-replayed']).toBe('true');
    t.clock.advance(61 * 60_000);
    await relogin(u1);
    await relogin(u2);
    const late = await create(u1, { name: 'G' }, 'k-day');
    expect(late.statusCode).toBe(201);
    expect(late.headers['idempotent-replayed']).toBeUndefined();
    expect(ran('G')).toBe(2);
    // …and that new response is the one replayed from now on.
    const again = await create(u1, { name: 'G' }, 'k-day');
    expect(again.body).toBe(late.body);
    expect(ran('G')).toBe(2);
  });

  it('records are per principal and tenant: another user or tenant with the same key and body never gets U1\'s response', async () => {
    const mine = await create(u1, { name: 'H' }, 'k2');
    const theirs = await create(u2, { name: 'H' }, 'k2');
    expect(theirs.statusCode).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.data.secret).not.toBe(mine.data.secret);
    await t.deps.tenants.create({ slug: 'idem-t2', name: 'T2' });
    const v1 = await register('idem-t2');
    const other = await create(v1, { name: 'H' }, 'k2');
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.data.secret).not.toBe(mine.data.secret);
    expect(ran('H')).toBe(3);
  });

  it('the stored response is sealed: the secret it carries is not in the store in plaintext', async () => {
    const res = await create(u1, { name: 'I' }, 'k3');
    const secret = res.data.secret as string;
    const stored = await storedRecord(u1.userId, '/auth/probe/things', 'k3');
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(3, 20));
    expect(stored).toMatch(/,v1\./);
    const replay = await create(u1, { name: 'I' }, 'k3');
    expect(replay.data.secret).toBe(secret);
  });

  it('sign-in routes are never idempotent: two logins with one key give two sessions, no replay', async () => {
    const email = `login${randomUUID()}@example.com`;
    await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: 'correct horse battery staple' } });
    const a = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: 'correct horse battery staple' }, headers: { 'idempotency-key': 'k-login' } });
    const b = await call(t.app, { method: 'POST', url: '/auth/login', json: { email, password: 'correct horse battery staple' }, headers: { 'idempotency-key': 'k-login' } });
    expect(a.statusCode).toBe(200);
    expect(b.statusCode).toBe(200);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.data.tokens.refreshToken).not.toBe(a.data.tokens.refreshToken);
  });

  it('without the header the route runs every time', async () => {
    await create(u1, { name: 'J' });
    await create(u1, { name: 'J' });
    expect(ran('J')).toBe(2);
  });
});

describe(`Idempotency-Key on the real creating routes (${BACKEND})`, () => {
  it('POST /auth/orgs twice with one key creates one org; another body → 422', async (ctx) => {
    if (!t.app.hasRoute({ method: 'POST', url: '/auth/orgs' })) return ctx.skip();
    const u = await register();
    const a = await call(t.app, { method: 'POST', url: '/auth/orgs', json: { name: 'A' }, token: u.token, headers: { 'idempotency-key': 'org-k1' } });
    expect(a.statusCode, a.body).toBe(200);
    const b = await call(t.app, { method: 'POST', url: '/auth/orgs', json: { name: 'A' }, token: u.token, headers: { 'idempotency-key': 'org-k1' } });
    expect(b.statusCode).toBe(200);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toBe(a.body);
    const c = await call(t.app, { method: 'POST', url: '/auth/orgs', json: { name: 'B' }, token: u.token, headers: { 'idempotency-key': 'org-k1' } });
    expect(c.statusCode).toBe(422);
    const list = await call(t.app, { method: 'GET', url: '/auth/orgs', token: u.token });
    expect(list.data.items.filter((o: { name: string }) => o.name === 'A' || o.name === 'B')).toHaveLength(1);
  });

  it('POST /auth/api-keys replayed: one key exists, and its plaintext is not stored', async (ctx) => {
    if (!t.app.hasRoute({ method: 'POST', url: '/auth/api-keys' })) return ctx.skip();
    const u = await register();
    const send = () => call(t.app, { method: 'POST', url: '/auth/api-keys', json: { name: 'ci', scopes: ['*'] }, token: u.token, headers: { 'idempotency-key': 'key-k3' } });
    const a = await send();
    expect(a.statusCode, a.body).toBe(201);
    const b = await send();
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toBe(a.body);
    const plaintext = JSON.stringify(a.data).match(/ck_[A-Za-z0-9_-]{20,}/)?.[0];
    expect(plaintext).toBeDefined();
    const stored = await storedRecord(u.userId, '/auth/api-keys', 'key-k3');
    expect(stored).not.toBeNull();
    expect(stored).not.toContain(plaintext!);
    const keys = await call(t.app, { method: 'GET', url: '/auth/api-keys', token: u.token });
    expect(keys.data.items.filter((k: { name: string }) => k.name === 'ci')).toHaveLength(1);
  });
});

describe(`Idempotency-Key: the key is taken in the effect's own transaction (${BACKEND})`, () => {
  const orgsNamed = async (name: string) => (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM orgs WHERE name = $1', [name])).rows[0]!.n;

  it('50 trials: the running claim is lost while the first run is in its transaction, a second run starts; one effect commits', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const outcomes = new Map<string, number>();
    for (let trial = 0; trial < 50; trial++) {
      const key = `lost-claim-${trial}`;
      const name = `race ${randomUUID()}`;
      const send = () => call(t.app, { method: 'POST', url: '/auth/probe/db-things', json: { name, slowMs: 40 }, token: u1.token, headers: { 'idempotency-key': key } });
      const claim = kvKey(tenant.id, 'idem', sha256Hex([`user:${u1.userId}`, 'POST', '/auth/probe/db-things', key].join('\n')));
      const first = send();
      for (let i = 0; i < 200 && (await t.deps.kv.get(claim)) === null; i++) await new Promise((res) => setTimeout(res, 1));
      // The claim expires, or the key–value store loses it (failover): nothing in it stops a second run now.
      await t.deps.kv.del(claim);
      const [a, b] = await Promise.all([first, send()]);
      const statuses = [a.statusCode, b.statusCode].sort().join('+');
      outcomes.set(statuses, (outcomes.get(statuses) ?? 0) + 1);
      expect(await orgsNamed(name), `trial ${trial}: ${a.body} / ${b.body}`).toBe(1);
      // Whichever lost was refused (409) or got the winner's response replayed; never a 500.
      expect([a.statusCode, b.statusCode].every((s) => s === 201 || s === 409), statuses).toBe(true);
    }
    expect(outcomes.get('201+409'), JSON.stringify([...outcomes])).toBeGreaterThan(0);
  }, 120_000);

  it('a run whose effect committed but whose response was not stored is never run again: the retry gets 409 with idempotency: completed', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const name = `lost response ${randomUUID()}`;
    const first = await call(t.app, { method: 'POST', url: '/auth/probe/db-things', json: { name, slowMs: 0 }, token: u1.token, headers: { 'idempotency-key': 'k-lost-response' } });
    expect(first.statusCode).toBe(201);
    // What a process killed between the commit and the response leaves: the record without a response.
    const recordKey = kvKey(tenant.id, 'idem', sha256Hex([`user:${u1.userId}`, 'POST', '/auth/probe/db-things', 'k-lost-response'].join('\n')));
    expect((await t.stores.sql.ownerQuery('UPDATE idempotency_records SET status = NULL, body = NULL WHERE record_key = $1', [recordKey])).rowCount).toBe(1);
    const retry = await call(t.app, { method: 'POST', url: '/auth/probe/db-things', json: { name, slowMs: 0 }, token: u1.token, headers: { 'idempotency-key': 'k-lost-response' } });
    expect(retry.statusCode).toBe(409);
    expect(retry.data).toMatchObject({ error: 'conflict', idempotency: 'completed' });
    expect(await orgsNamed(name)).toBe(1);
  });

  it('an error answer removes the run\'s record (e.g. a denial\'s audit row is not an effect that takes the key): a retry runs', async () => {
    const tenant = await t.deps.tenants.defaultTenant();
    const name = `refused ${randomUUID()}`;
    const send = () => call(t.app, { method: 'POST', url: '/auth/probe/db-things', json: { name, slowMs: 0, failAfterCommit: true }, token: u1.token, headers: { 'idempotency-key': 'k-refused' } });
    expect((await send()).statusCode).toBe(403);
    const recordKey = kvKey(tenant.id, 'idem', sha256Hex([`user:${u1.userId}`, 'POST', '/auth/probe/db-things', 'k-refused'].join('\n')));
    expect((await t.stores.sql.ownerQuery('SELECT 1 FROM idempotency_records WHERE record_key = $1', [recordKey])).rowCount).toBe(0);
    expect((await send()).statusCode).toBe(403);
    expect(await orgsNamed(name), 'the retry ran').toBe(2);
  });

  it('requests without a key are not observed: their units of work write no record', async () => {
    const before = (await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_records')).rows[0]!.n;
    const res = await call(t.app, { method: 'POST', url: '/auth/probe/db-things', json: { name: `unkeyed ${randomUUID()}`, slowMs: 0 }, token: u1.token });
    expect(res.statusCode).toBe(201);
    expect((await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_records')).rows[0]!.n).toBe(before);
  });
});
