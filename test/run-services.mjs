#!/usr/bin/env node
// `npm run test:services`: the whole suite against real Postgres and Redis (TEST_BACKEND=services).
// Refuses to run — never skips silently — when either service does not answer.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { Cluster, Redis } from 'ioredis';

const PG_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TIMEOUT_MS = 3000;

const safe = (url) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

async function checkPostgres() {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return `Postgres at ${safe(PG_URL)} does not answer (${err.code ?? err.message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A client for REDIS_URL: a Cluster for `redis+cluster://[user:pass@]host:port,host:port` (npm run test:cluster). */
function redisClient() {
  const options = { lazyConnect: true, connectTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false };
  const cluster = /^rediss?\+cluster:\/\/(?:[^@/]*@)?([^/?#]+)/.exec(REDIS_URL);
  if (!cluster) return new Redis(REDIS_URL, options);
  const nodes = cluster[1].split(',').map((hostPort) => {
    const u = new URL(`redis://${hostPort.trim()}`);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
  return new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: options });
}

async function checkRedis() {
  const client = redisClient();
  let cause;
  client.on('error', (err) => { cause ??= err; });
  try {
    await client.connect();
    if ((await client.ping()) !== 'PONG') return `Redis at ${safe(REDIS_URL)} did not answer PING`;
    return null;
  } catch (err) {
    const e = cause ?? err;
    return `Redis at ${safe(REDIS_URL)} does not answer (${e.code ?? e.message})`;
  } finally {
    client.disconnect();
  }
}

const problems = (await Promise.all([checkPostgres(), checkRedis()])).filter(Boolean);
if (problems.length) {
  process.stderr.write(`test:services: ${problems.join('; ')}. Start them (e.g. docker compose up -d postgres redis) or set TEST_PG_ADMIN_URL / TEST_REDIS_URL.\n`);
  process.exit(1);
}

const child = spawn('npx', ['vitest', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TEST_BACKEND: 'services' },
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
