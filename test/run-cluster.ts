// `npm run test:cluster [files…]`: the services suite (real Postgres + Redis) with the key–value store on a
// local 3-master Redis Cluster this script starts on free ports and stops afterwards (test/helpers/redis-cluster.ts).
//
// Without file arguments it runs every test file whose result can depend on the Redis it is given, by this rule:
//   - files that read TEST_BACKEND / use the services stores (they mention BACKEND, createStores, createTestApp,
//     REDIS_URL or rawRedis): everything else is a pure unit or static test whose answer is the same on any store;
//   - minus the files that start and kill their own single redis-server (they mention `redisServer(`): they
//     never touch TEST_REDIS_URL, so a cluster run would only repeat their standalone run.
// CI (.ci/run) runs that whole selection. `--redis-state` narrows it to the files whose subject is state the
// service keeps in Redis, a quicker check while working on the store: the store contract, rate limits,
// idempotency, caches, scaling, and the session / token / revocation suites (`ses-*`, `tok-*`, `rl-*`,
// `av-01`, `*revocation*`).
// `--list` prints the selection and exits.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startRedisCluster } from './helpers/redis-cluster.js';

const root = join(import.meta.dirname, '..');

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' ? [] : testFiles(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

/** The rule above, applied to src/ and test/. */
export function clusterSelection(): string[] {
  const usesStores = /\b(BACKEND|createStores|createTestApp|REDIS_URL|rawRedis)\b/;
  const ownRedis = /\bredisServer\(/;
  return [...testFiles(join(root, 'src')), ...testFiles(join(root, 'test'))]
    .filter((file) => {
      const text = readFileSync(file, 'utf8');
      return usesStores.test(text) && !ownRedis.test(text);
    })
    .map((file) => relative(root, file))
    .sort();
}

/** `--redis-state`: the part of the selection whose subject is state kept in Redis. */
const REDIS_STATE = /(^|\/)(kv\.test\.ts$|rate-limit\/|idempotency\/|caches\/|scaling\/|(ses|tok|rl)-|av-01-)|revocation/;

const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const selection = flags.has('--redis-state') ? clusterSelection().filter((f) => REDIS_STATE.test(f)) : clusterSelection();
if (flags.has('--list')) {
  for (const f of selection) console.log(f);
  process.exit(0);
}
const files = args.length ? args : selection;

const started = Date.now();
const cluster = await startRedisCluster({ masters: 3 });
console.log(`test:cluster: Redis Cluster at ${cluster.url} (${Date.now() - started} ms); ${files.length} test file(s)`);
let stopping: Promise<void> | null = null;
const stop = () => (stopping ??= cluster.stop());

const child = spawn(process.execPath, [join(root, 'test/run-services.mjs'), ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, TEST_REDIS_URL: cluster.url },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  void stop().finally(() => {
    console.log(`test:cluster: ${code === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`);
    process.exit(code ?? (signal ? 1 : 0));
  });
});
