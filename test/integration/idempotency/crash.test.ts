import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvKey } from '../../../src/kv/kv.js';
import { sha256Hex } from '../../../src/lib/crypto.js';
import { BACKEND, createStores, rawRedis, REDIS_URL, type Stores } from '../../helpers/backend.js';
import { RAISED_RATE_LIMITS, TEST_AUTH_SECRET } from '../../helpers/app.js';
import { startServer, tempDir, type RunningServer } from '../../helpers/cli.js';

/**
 * Issue 26: `Idempotency-Key` must never run a request twice, even when the process dies between the
 * commit of the effect and the storing of the response (kill -9). Real server processes (`authplane serve`)
 * on the same stores: the first is held at a test-only fault point (NODE_ENV=test + AUTHPLANE_TEST_FAULT,
 * src/modules/idempotency/hooks.ts) and killed there; the retry goes to the next process. Embedded: the
 * next process reopens the same DATA_DIR (PGlite is one process at a time; the in-process store died).
 */
const services = BACKEND === 'services';
let stores: Stores | undefined;
const data = tempDir();
const running: RunningServer[] = [];
let user: { token: string; userId: string; email: string };
const PASSWORD = 'correct horse battery staple';

async function start(fault?: string): Promise<RunningServer> {
  const env: Record<string, string> = { DATA_DIR: data.dir, AUTH_SECRET: TEST_AUTH_SECRET, ...RAISED_RATE_LIMITS, LOG_LEVEL: 'warn' };
  if (services) Object.assign(env, { DATABASE_URL: stores!.databaseUrl!, REDIS_URL, KV_PREFIX: stores!.kvPrefix });
  if (fault) Object.assign(env, { NODE_ENV: 'test', AUTHPLANE_TEST_FAULT: fault });
  const s = await startServer(env, 240_000);
  running.push(s);
  // Embedded: the sessions died with the in-process store; a new token of the same user (the record is the user's).
  if (user) {
    const res = await fetch(`${s.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: PASSWORD }) });
    expect(res.status).toBe(200);
    user.token = ((await res.json()) as { tokens: { accessToken: string } }).tokens.accessToken;
  }
  return s;
}

/** Sends the keyed request, waits until the server is held at its fault point, and kills it there (SIGKILL). */
async function crashAt(server: RunningServer, point: string, key: string, name: string): Promise<void> {
  const pending = createOrg(server, key, name).then((r) => `answered ${r.status}`, () => 'no answer');
  await expect.poll(() => server.output().stdout, { timeout: 20_000 }).toContain(`authplane-test-fault: ${point}`);
  server.child.kill('SIGKILL');
  expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' });
  expect(await pending, 'the client saw the connection die').toBe('no answer');
}

const createOrg = (server: RunningServer, key: string, name: string) => fetch(`${server.url}/auth/orgs`, {
  method: 'POST', headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'idempotency-key': key },
  body: JSON.stringify({ name }),
  // A retry that runs the request again meets the next server's fault point and never answers: fail, do not hang.
  signal: AbortSignal.timeout(60_000),
});

async function orgsNamed(server: RunningServer, name: string): Promise<{ id: string }[]> {
  const res = await fetch(`${server.url}/auth/orgs?limit=200`, { headers: { authorization: `Bearer ${user.token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { id: string; name: string }[] }).items.filter((o) => o.name === name);
}

/**
 * Services: the dead process's running claim is still in Redis, so a retry first meets `409 conflict`
 * (still being processed) until its 2-minute lease ends; the lease's end is simulated by deleting it.
 */
async function claimLeaseEnds(server: RunningServer, key: string, name: string): Promise<void> {
  if (!services) return;
  const res = await createOrg(server, key, name);
  expect(res.status).toBe(409);
  expect(((await res.json()) as { message: string }).message).toMatch(/still being processed/);
  const tenant = (await stores!.sql.ownerQuery<{ id: string }>("SELECT id FROM tenants WHERE slug = 'default'")).rows[0]!.id;
  const claim = stores!.kvPrefix + kvKey(tenant, 'idem', sha256Hex([`user:${user.userId}`, 'POST', '/auth/orgs', key].join('\n')));
  const redis = await rawRedis(REDIS_URL);
  try {
    expect(await redis.del(claim), 'the dead run\'s claim').toBe(1);
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  if (services) stores = await createStores();
}, 60_000);

afterAll(async () => {
  for (const s of running) await s.stop(5000).catch(() => {});
  await stores?.drop();
  data.remove();
});

describe(`Idempotency-Key across a crash (kill -9) (${BACKEND})`, () => {
  let second: RunningServer;

  it('killed after the effect committed, before the response was stored: the retry elsewhere does not run it again', async () => {
    const first = await start('idempotency-hold-before-store');
    const reg = await fetch(`${first.url}/auth/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `crash${randomUUID()}@example.com`, password: PASSWORD }),
    });
    expect(reg.status).toBe(200);
    const body = (await reg.json()) as { tokens: { accessToken: string }; user: { id: string; email: string } };
    user = { token: body.tokens.accessToken, userId: body.user.id, email: body.user.email };

    await crashAt(first, 'idempotency-hold-before-store', 'crash-key-1', 'Crash One');
    second = await start('idempotency-hold-after-store');
    expect(await orgsNamed(second, 'Crash One'), 'the first run committed its org').toHaveLength(1);
    await claimLeaseEnds(second, 'crash-key-1', 'Crash One');
    for (let i = 0; i < 2; i++) {
      const retry = await createOrg(second, 'crash-key-1', 'Crash One');
      const answer = (await retry.json()) as { error: string; idempotency?: string; message: string };
      expect({ status: retry.status, error: answer.error, idempotency: answer.idempotency }).toEqual({ status: 409, error: 'conflict', idempotency: 'completed' });
      expect(answer.message).toMatch(/already applied/);
    }
    expect(await orgsNamed(second, 'Crash One'), 'exactly one org: the key ran once').toHaveLength(1);
    // Another body with that key is still refused as reuse.
    expect((await createOrg(second, 'crash-key-1', 'Something else')).status).toBe(422);
  }, 600_000);

  it('killed after the response was stored, before it was sent: the retry elsewhere gets the stored response', async () => {
    await crashAt(second, 'idempotency-hold-after-store', 'crash-key-2', 'Crash Two');
    const third = await start();
    await claimLeaseEnds(third, 'crash-key-2', 'Crash Two');
    const retry = await createOrg(third, 'crash-key-2', 'Crash Two');
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const org = (await retry.json()) as { id: string; name: string };
    const orgs = await orgsNamed(third, 'Crash Two');
    expect(orgs.map((o) => o.id), 'exactly one org, the one the stored response names').toEqual([org.id]);
  }, 600_000);
});
