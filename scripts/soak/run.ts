import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { checkAcknowledgedWrites, checkExercised, checkRecovery, checkRefreshOnce, checkRevocation, checkServerErrors, type FaultWindow, type Outcome } from './checks.js';
import { instance, ready, runCli, startProxy, type Instance, type Proxy } from './fleet.js';
import { call } from './http.js';
import { PASSWORD, runLoad } from './load.js';
import { finishProbe, prepareProbe, probe, probes, type PreparedProbe } from './probes.js';
import { busiestNode, createCluster, redisNode, sleep, startPostgres, waitClusterOk, waitForPort, type Postgres, type RedisNode } from './stores.js';

/**
 * `npm run soak` (docs/soak.md): 3 Authplane instances on the harness's own Postgres and Redis, behind a
 * round-robin proxy, under a steady mixed load, with an instance killed, Redis restarted and Postgres
 * restarted during it; then one summary line per property and `N passed, M failed` (exit 1 on a failure).
 */

const env = process.env;
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);
const cfg = {
  durationS: num('SOAK_DURATION', 300),
  vus: num('SOAK_VUS', 8),
  thinkMs: num('SOAK_THINK_MS', 100),
  instances: num('SOAK_INSTANCES', 3),
  downS: num('SOAK_DOWN_SECONDS', 5),
  probeEveryS: num('SOAK_PROBE_EVERY', 20),
  portBase: num('SOAK_PORT_BASE', 21300),
  faults: (env.SOAK_FAULTS ?? 'instance,redis,postgres').split(',').map((s) => s.trim()).filter(Boolean),
  redisMode: (env.SOAK_REDIS ?? 'standalone') as 'standalone' | 'cluster',
  persist: (env.SOAK_REDIS_PERSIST ?? 'aof') !== 'none',
  /** Breaks one property on purpose, to show the harness fails (docs/soak.md): `no-restart` leaves the killed instance down. */
  brk: env.SOAK_BREAK ?? '',
  keep: env.SOAK_KEEP === '1',
};
for (const f of cfg.faults) if (!['instance', 'redis', 'postgres'].includes(f)) throw new Error(`SOAK_FAULTS: unknown fault "${f}" (instance, redis, postgres)`);
if (!['standalone', 'cluster'].includes(cfg.redisMode)) throw new Error('SOAK_REDIS must be standalone or cluster');

const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`[${String(Math.round((Date.now() - T0) / 1000)).padStart(4)} s] ${msg}\n`);

const dir = mkdtempSync(path.join(tmpdir(), 'authplane-soak-'));
chmodSync(dir, 0o711); // as root, Postgres runs as `postgres` and must reach its data directory inside
const cleanup: (() => Promise<void> | void)[] = [];
let cleaned = false;
async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const fn of cleanup.reverse()) { try { await fn(); } catch { /* keep stopping the rest */ } }
  if (!cfg.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { log(`${sig}: stopping everything the harness started`); void cleanUp().then(() => process.exit(130)); });
}

async function main(): Promise<number> {
  const P = cfg.portBase;
  log(`soak: ${cfg.durationS} s, ${cfg.instances} instances, ${cfg.vus} virtual users, faults ${cfg.faults.join(', ') || 'none'}, ` +
    `Redis ${cfg.redisMode}${cfg.persist ? ' (AOF, fsync always)' : ' (no persistence)'}, ports ${P}–${P + 40}, files in ${dir}`);

  // Stores of our own, on our own ports.
  const postgres: Postgres = await startPostgres(path.join(dir, 'pgroot'), P + 1);
  cleanup.push(() => postgres.stop());
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query('CREATE DATABASE authplane_soak');
  await admin.end();
  const databaseUrl = postgres.url.replace(/\/postgres$/, '/authplane_soak');

  const redisPorts = cfg.redisMode === 'cluster' ? [P + 11, P + 12, P + 13] : [P + 2];
  const nodes: RedisNode[] = redisPorts.map((port) => redisNode(path.join(dir, `redis-${port}`), port, { persist: cfg.persist, cluster: cfg.redisMode === 'cluster' }));
  for (const n of nodes) { await n.start(); cleanup.push(() => n.kill()); }
  if (cfg.redisMode === 'cluster') await createCluster(redisPorts);
  const redisUrl = cfg.redisMode === 'cluster' ? `redis+cluster://${redisPorts.map((p) => `127.0.0.1:${p}`).join(',')}` : `redis://127.0.0.1:${redisPorts[0]}`;
  log(`Postgres on ${P + 1}, Redis ${redisUrl}`);

  const appEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, KV_PREFIX: 'soak:', HOST: '127.0.0.1',
    AUTH_SECRET: randomBytes(36).toString('base64'), PUBLIC_URL: `http://127.0.0.1:${P}`, LOG_LEVEL: 'warn',
    // The proxy sets X-Forwarded-For per virtual user; the limits are raised so that the load measures faults, not
    // throttling (they still run: every credential route's sliding window is a Redis script per request).
    TRUST_PROXY: '127.0.0.1', RATE_LIMIT_CREDENTIAL: '100000/60', RATE_LIMIT_DEFAULT: '100000/60', RATE_LIMIT_ACCOUNT: '100/900',
    WEBHOOK_WORKER: 'false',
  };
  log(await runCli(['migrate'], appEnv).then((o) => `migrate: ${o.trim()}`));
  const fleet: Instance[] = Array.from({ length: cfg.instances }, (_, i) => instance(i, P + 21 + i, appEnv, dir));
  for (const inst of fleet) cleanup.push(() => inst.stop());
  await Promise.all(fleet.map((i) => i.start()));
  const proxy: Proxy = await startProxy(P, fleet);
  cleanup.push(() => proxy.close());
  log(`${fleet.length} instances ready (${fleet.map((i) => i.port).join(', ')}), proxy on ${P}`);

  const targets = fleet.map((i) => ({ index: i.index, url: i.url }));
  const probeEmail = `soak-probe-${randomBytes(4).toString('hex')}@example.com`;
  const reg = await call({ base: proxy.url, via: 'proxy', op: 'probe.register', path: '/auth/register', body: { email: probeEmail, password: PASSWORD }, record: false });
  if (reg.status !== 200) throw new Error(`registering the probe user answered ${reg.status}: ${JSON.stringify(reg.json)}`);
  let probeN = 0;
  const nextTarget = () => targets[probeN++ % targets.length]!;

  let stopped = false;
  const load = runLoad(proxy.url, { count: cfg.vus, thinkMs: cfg.thinkMs, stop: () => stopped });
  const windows: FaultWindow[] = [];
  const started = Date.now();
  const end = started + cfg.durationS * 1000;

  /** Until `until`: a revocation probe every probeEveryS. */
  async function probeUntil(until: number): Promise<void> {
    while (Date.now() < until) {
      const wait = Math.min(cfg.probeEveryS * 1000, until - Date.now());
      await sleep(wait);
      if (Date.now() < until - 3000) await probe('steady', probeEmail, nextTarget(), targets);
    }
  }

  /** Polls /auth/ready on every instance from `back` on: ms until each answered 200 (null: not within 15 s). */
  const measureRecovery = (back: number) => Promise.all(fleet.map(async (inst) => {
    while (Date.now() - back < 15_000) {
      if (await ready(inst.url, 1000)) return Date.now() - back;
      await sleep(100);
    }
    return null;
  }));

  async function storeFault(kind: 'redis' | 'postgres', label: string, down: () => Promise<void> | void, up: () => Promise<void> | void): Promise<void> {
    let prepared: PreparedProbe | undefined;
    // A Redis without persistence comes back empty: a session from before it is gone anyway, so the probe starts after.
    const before = kind === 'postgres' || cfg.persist;
    if (before) try { prepared = await prepareProbe(`signed in before, out right after ${label} came back`, probeEmail, nextTarget(), targets); } catch (err) { probes.push({ label, lastAcceptedMs: [], refusedMs: [], error: (err as Error).message }); }
    const w: FaultWindow = { kind, label, start: Date.now() };
    windows.push(w);
    log(`${label}: down`);
    await down();
    await sleep(cfg.downS * 1000);
    await up();
    w.back = Date.now();
    log(`${label}: back after ${((w.back - w.start) / 1000).toFixed(1)} s`);
    const [readyMs] = await Promise.all([measureRecovery(w.back),
      prepared ? finishProbe(prepared) : before ? undefined : probe(`signed in and out right after ${label} came back`, probeEmail, nextTarget(), targets)]);
    w.readyMs = readyMs;
    const allReady = readyMs.every((ms) => ms !== null) ? w.back + Math.max(...(readyMs as number[])) : Infinity;
    w.end = Math.max(w.back + 10_000, Number.isFinite(allReady) ? allReady : w.back + 15_000);
    log(`${label}: instances ready after ${readyMs.map((ms) => (ms === null ? 'never' : `${ms} ms`)).join(' / ')}`);
    await sleep(Math.max(0, w.end - Date.now()));
  }

  const faults: Record<string, () => Promise<void>> = {
    async instance() {
      const victim = fleet[1 % fleet.length]!;
      const w: FaultWindow = { kind: 'instance', label: `kill -9 instance ${victim.index}`, start: Date.now(), backend: victim.index };
      windows.push(w);
      log(`${w.label} (pid ${victim.pid()})`);
      await victim.kill();
      await sleep(cfg.downS * 1000);
      if (cfg.brk === 'no-restart') {
        log('SOAK_BREAK=no-restart: the killed instance stays down');
      } else {
        await victim.start();
        w.back = Date.now();
        log(`instance ${victim.index} serving again after ${((w.back - w.start) / 1000).toFixed(1)} s`);
      }
      w.end = Date.now() + 1000;
      await sleep(1000);
      if (w.back !== undefined) await probe(`after instance ${victim.index} restarted`, probeEmail, targets[victim.index]!, targets);
    },
    async redis() {
      // In a cluster, the master holding the most keys: with keys hash-tagged per tenant, that is the one that matters.
      const k = cfg.redisMode === 'cluster' ? await busiestNode(redisPorts) : 0;
      await storeFault('redis', cfg.redisMode === 'cluster' ? `Redis master ${redisPorts[k]} restart` : 'Redis restart',
        () => nodes[k]!.kill(),
        async () => { await nodes[k]!.start(); if (cfg.redisMode === 'cluster') await waitClusterOk(redisPorts, 30_000); });
    },
    postgres: () => storeFault('postgres', 'Postgres restart', () => postgres.crash(), async () => { await postgres.start(); await waitForPort(P + 1, 10_000); }),
  };

  // The timeline: faults spread over the run, a steady stretch before the first and after the last.
  const plan = cfg.faults;
  for (let k = 0; k < plan.length; k++) {
    await probeUntil(started + ((k + 1) * cfg.durationS * 1000) / (plan.length + 1.5));
    await faults[plan[k]!]!();
  }
  await probeUntil(end);
  stopped = true;
  await load;
  log('load stopped; checking');
  await probe('at the end', probeEmail, nextTarget(), targets);

  const results: Outcome[] = [];
  const errors = checkServerErrors(windows);
  results.push(checkExercised(['register', 'login', 'refresh', 'user', 'validate', 'apikey.create', 'org.create', 'org.rename', 'authorize', 'logout'], windows, plan));
  results.push(await checkAcknowledgedWrites(databaseUrl, proxy.url));
  results.push(await checkRefreshOnce(proxy.url));
  results.push(checkRevocation());
  results.push(errors.outcome);
  results.push(checkRecovery(windows, fleet.length));

  process.stdout.write(`\nsoak ${new Date().toISOString()}: ${cfg.durationS} s, ${fleet.length} instances, ${cfg.vus} virtual users, Redis ${cfg.redisMode}` +
    `${cfg.brk ? `, SOAK_BREAK=${cfg.brk}` : ''}\nrequests per phase:\n${errors.table.join('\n')}\n\n`);
  for (const r of results) process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'}  ${r.line}\n`);
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed ? 1 : 0;
}

main().then(async (code) => { await cleanUp(); process.exit(code); }, async (err) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`);
  await cleanUp();
  process.exit(2);
});
