import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND, createStores, PG_ADMIN_URL, REDIS_URL, type Stores } from '../../helpers/backend.js';
import { RAISED_RATE_LIMITS, TEST_AUTH_SECRET } from '../../helpers/app.js';
import { startServer, tempDir, type RunningServer } from '../../helpers/cli.js';

/**
 * Issue 26: a Postgres connection terminated under load (pg_terminate_backend, a fast shutdown) must cost
 * the affected requests a 503, never the process. A pooled client checked out for a transaction had no
 * 'error' listener, so a terminated backend between two statements of a transaction crashed the server.
 * The server runs as a child process (`authplane serve`), so a crash shows as an exit, not as a vitest error.
 */
const services = BACKEND === 'services';

let stores: Stores | undefined;
let server: RunningServer | undefined;
let token = '';

const dirs: ReturnType<typeof tempDir>[] = [];

/** `authplane serve` on this backend's stores; `fault` sets a test-only fault point (src/main.ts). */
async function start(fault?: string, dataDir?: string): Promise<RunningServer> {
  const data = dataDir ? { dir: dataDir } : tempDir();
  if (!dataDir) dirs.push(data as ReturnType<typeof tempDir>);
  const env: Record<string, string> = { DATA_DIR: data.dir, AUTH_SECRET: TEST_AUTH_SECRET, ...RAISED_RATE_LIMITS, LOG_LEVEL: 'warn' };
  if (services) {
    stores ??= await createStores();
    Object.assign(env, { DATABASE_URL: stores.databaseUrl!, REDIS_URL, KV_PREFIX: stores.kvPrefix });
  }
  if (fault) Object.assign(env, { NODE_ENV: 'test', AUTHPLANE_TEST_FAULT: fault });
  return startServer(env);
}

beforeAll(async () => {
  // Also the last line of defence: 1 s after listening this server throws a connection error outside any request.
  server = await start('uncaught-connection-error');
  const res = await fetch(`${server.url}/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `fault${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  token = ((await res.json()) as { tokens: { accessToken: string } }).tokens.accessToken;
}, 120_000);

afterAll(async () => {
  await server?.stop(5000);
  await stores?.drop();
  for (const d of dirs) d.remove();
});

/** One DB-touching request: a write (a transaction of two INSERTs) or a read; its status, or the network error. */
async function oneRequest(i: number): Promise<string> {
  const write = i % 2 === 0;
  try {
    const res = await fetch(`${server!.url}/auth/orgs`, {
      method: write ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${token}`, ...(write ? { 'content-type': 'application/json' } : {}) },
      body: write ? JSON.stringify({ name: `load ${i}` }) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.text();
    if (res.status === 503) expect(JSON.parse(body).error).toBe('unavailable');
    if (res.status === 500) return `500 ${body}`;
    return String(res.status);
  } catch (err) {
    return `network error: ${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`;
  }
}

describe(`a terminated Postgres connection under load (${BACKEND})`, () => {
  it.skipIf(!services)('costs the affected requests 503, never the process; service resumes once the terminations stop (services only: PGlite runs inside the process, it has no connection to terminate)', async () => {
    const dbName = new URL(stores!.databaseUrl!).pathname.slice(1);
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const statuses: string[] = [];
    let terminated = 0;
    let stop = false;
    try {
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; !stop; i += 8) statuses.push(await oneRequest(i));
      });
      // Terminate the server's backends, mid-transaction ones included, every 25 ms for 2.5 s.
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        const r = await admin.query<{ pid: number }>(
          `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND pid <> pg_backend_pid() AND state IN ('idle in transaction', 'active', 'idle')`, [dbName]);
        terminated += r.rowCount ?? 0;
        await new Promise((res) => setTimeout(res, 25));
      }
      stop = true;
      await Promise.all(workers);
    } finally {
      stop = true;
      await admin.end();
    }
    const exited = await Promise.race([server!.exited, new Promise((res) => setTimeout(() => res(null), 200))]);
    expect(exited, `the server exited; stderr: ${server!.output().stderr.slice(-2000)}`).toBeNull();
    expect(terminated).toBeGreaterThan(5);
    const unexpected = statuses.filter((s) => !['200', '503'].includes(s));
    expect(unexpected, `of ${statuses.length} responses`).toEqual([]);
    expect(statuses.filter((s) => s === '503').length, 'some requests met a terminated connection').toBeGreaterThan(0);

    // Service resumes by itself: the broken clients were discarded, new connections are made.
    const deadline = Date.now() + 10_000;
    while ((await oneRequest(0)) !== '200') {
      expect(Date.now() < deadline, 'requests succeed again within 10 s').toBe(true);
      await new Promise((res) => setTimeout(res, 100));
    }
    // Org creates answer 200 (the Cedros status), reads 200.
    for (let i = 0; i < 10; i++) expect(await oneRequest(i)).toBe('200');
  }, 60_000);

});

describe(`the last line of defence: an error nothing handled (${BACKEND})`, () => {
  it('a dependency connection error outside any request is logged and the process keeps serving', async () => {
    // `server` met the injected error right after it started listening (beforeAll).
    await expect.poll(() => server!.output().stdout, { timeout: 5000 }).toMatch(/still serving/);
    const line = server!.output().stdout.split('\n').find((l) => l.includes('still serving'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 'error', err: { code: '57P01' } });
    expect(await Promise.race([server!.exited, new Promise((res) => setTimeout(() => res(null), 100))])).toBeNull();
    expect((await fetch(`${server!.url}/auth/health`)).status).toBe(200);
    expect(await oneRequest(1)).toBe('200');
  });

  it('any other uncaught exception is logged as fatal (redacted) and the process exits 1 for its supervisor to restart it', async () => {
    // On the same data as `server` (stopped first): an embedded database opens in seconds once it exists.
    expect(await server!.stop(10_000)).toEqual({ code: 0, signal: null });
    const other = await start('uncaught-error', dirs[0]!.dir);
    const { code, signal } = await Promise.race([other.exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('still running after 10 s')), 10_000))]);
    expect({ code, signal }).toEqual({ code: 1, signal: null });
    const out = other.output().stdout;
    const fatal = out.split('\n').find((l) => l.includes('uncaught exception'));
    expect(fatal, out).toBeDefined();
    expect(JSON.parse(fatal!)).toMatchObject({ level: 'fatal', err: { message: expect.stringContaining('injected fault') } });
    expect(out + other.output().stderr).not.toContain('ck_InjectedFaultSecret');
  }, 120_000);
});
