import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createDeps, openSql } from '../src/deps.js';
import { migrate } from '../src/db/migrate.js';
import { createLogger } from '../src/http/logger.js';
import { BACKEND, CONNECTIONS, type BenchRow } from './lib.js';

/**
 * Memory and start (issue 21), on the server as users run it: `npm start` in a child process.
 *  - start: ms from spawning `npm start` to the first 200 on GET /auth/health (database already migrated);
 *  - resident memory (process_resident_memory_bytes of the server's own /metrics) after start, and after
 *    100,000 distinct valid bearer tokens were each used once on GET /auth/user, and after 100,000 more: the
 *    verified-token (20,000) and session-check (SESSION_CHECK_MAX, 50,000) caches are bounded, so memory
 *    levels off instead of growing.
 * BENCH_TOKENS changes the count. Informational figures (no ratio target).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKENS = Number(process.env.BENCH_TOKENS ?? 100_000);
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** BENCH_PORT_BASE (two consecutive ports) when the machine's ports are shared out, else free ones. */
async function port(offset: number): Promise<number> {
  if (process.env.BENCH_PORT_BASE) return Number(process.env.BENCH_PORT_BASE) + offset;
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try { await c.query(text); } finally { await c.end(); }
}

async function rss(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!m) throw new Error('no process_resident_memory_bytes in /metrics');
  return Number(m[1]);
}

function flood(url: string, file: string): Promise<{ total: number; reqPerSec: number; statuses: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench/token-flood-client.mjs'), JSON.stringify({ url, file, connections: CONNECTIONS })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`token flood exited ${code}: ${err}`))));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default async function memoryStartBench(): Promise<BenchRow[]> {
  const tag = randomBytes(5).toString('hex');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ap-bench-start-'));
  const [appPort, metricsPort] = [await port(0), await port(1)];
  const env: Record<string, string> = {
    AUTH_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef', PUBLIC_URL: `http://127.0.0.1:${appPort}`, LOG_LEVEL: 'warn',
    PORT: String(appPort), HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', DATA_DIR: dataDir,
    RATE_LIMIT_DEFAULT: '1000000/60', RATE_LIMIT_CREDENTIAL: '1000000/60', KV_PREFIX: `apbench-${tag}:`,
  };
  let dropDb = async () => {};
  if (BACKEND === 'services') {
    const db = `ap_bench_${tag}`;
    await admin(`CREATE DATABASE ${db}`);
    dropDb = () => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    env.DATABASE_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${db}`);
    env.REDIS_URL = REDIS_URL;
  }
  let server: ChildProcess | null = null;
  try {
    // Before the server: migrate, create a user's session and sign the tokens with the deployment's own
    // keys (the same database and AUTH_SECRET; on embedded the session lives in the process's memory
    // store and is gone at the restart, so there the tokens verify and then answer 401).
    const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
    const sql = await openSql(config);
    await migrate(sql);
    const deps = await createDeps(config, { sql, log: createLogger('silent'), onClose: () => sql.close() });
    const tenant = await deps.tenants.defaultTenant();
    const signed = await deps.services.password.register(tenant, { email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }, { ip: '127.0.0.1', userAgent: 'bench', requestId: 'bench' });
    if (signed.kind !== 'session') throw new Error('register did not start a session');
    const claims = await deps.services.tokens.verify(signed.body.tokens.accessToken);
    const tokens: string[] = [];
    // Two batches: memory after the first shows what the bounded caches hold, after the second that it stopped growing.
    for (let i = 0; i < 2 * TOKENS; i += 1) {
      const { token } = await deps.services.tokens.sign({ aud: claims.aud, sub: claims.sub, tid: claims.tid, sid: claims.sid, amr: claims.amr, ttlSeconds: 3600 });
      tokens.push(token);
    }
    await deps.close();
    const file = path.join(dataDir, 'tokens.txt');
    const file2 = path.join(dataDir, 'tokens2.txt');
    writeFileSync(file, tokens.slice(0, TOKENS).join('\n'));
    writeFileSync(file2, tokens.slice(TOKENS).join('\n'));

    const started = performance.now();
    server = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    server.stderr!.on('data', (d) => { stderr += d; });
    let startMs = 0;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`npm start exited ${server.exitCode}: ${stderr.slice(-500)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${appPort}/auth/health`);
        if (res.status === 200) { startMs = performance.now() - started; break; }
      } catch { /* not listening yet */ }
      if (performance.now() - started > 120_000) throw new Error('no 200 on /auth/health within 120 s');
      await sleep(10);
    }
    await sleep(1000);
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const rssStart = await rss(metricsUrl);
    const r = await flood(`http://127.0.0.1:${appPort}/auth/user`, file);
    await sleep(1000);
    const rssAfter = await rss(metricsUrl);
    const r2 = await flood(`http://127.0.0.1:${appPort}/auth/user`, file2);
    await sleep(1000);
    const rssAfter2 = await rss(metricsUrl);
    const mib = (b: number) => (b / 2 ** 20).toFixed(0);
    const statuses = Object.entries(r.statuses).map(([k, v]) => `${v} × ${k}`).join(', ');
    return [
      { name: '`npm start` → first 200 on /auth/health (ms)', reqPerSec: startMs, ratio: 1, target: null, note: 'database already migrated' },
      { name: 'resident memory after start (MiB)', reqPerSec: Number(mib(rssStart)), ratio: 1, target: null },
      {
        name: `resident memory after ${TOKENS.toLocaleString('en-US')} distinct bearer tokens (MiB)`, reqPerSec: Number(mib(rssAfter)), ratio: rssAfter / rssStart, target: null,
        note: `ratio to after start; ${statuses} at ${Math.round(r.reqPerSec)} req/s`,
      },
      {
        name: `… after ${TOKENS.toLocaleString('en-US')} more (MiB)`, reqPerSec: Number(mib(rssAfter2)), ratio: rssAfter2 / rssAfter, target: null,
        note: `ratio to after the first ${TOKENS.toLocaleString('en-US')}: the caches are bounded (${Object.entries(r2.statuses).map(([k, v]) => `${v} × ${k}`).join(', ')})`,
      },
    ];
  } finally {
    if (server?.pid && server.exitCode === null) {
      // npm runs the server as a child: signal the whole group, then wait for it.
      const exited = new Promise((r) => server!.once('exit', r));
      try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
      await Promise.race([exited, sleep(10_000)]);
      try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await dropDb().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}
