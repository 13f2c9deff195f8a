import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:net';

/**
 * The soak harness's own stores (docs/soak.md): a Postgres cluster initialised in a temporary directory and
 * a redis-server (or a 3-master Redis Cluster), each on a port of the harness's range. The machine's shared
 * Postgres and Redis are never touched: every process here is started by the harness and stopped by its pid.
 */

const PG_BIN = process.env.SOAK_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once something accepts TCP connections on 127.0.0.1:port (or rejects after timeoutMs). */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Runs a command to completion without blocking the event loop (the proxy and the load run in this process);
 * rejects with its output when it fails. As root, Postgres tools run as `postgres` (initdb refuses root).
 */
function run(cmd: string, args: string[], o: { asPostgres?: boolean } = {}): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [c, a] = o.asPostgres && asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    child.once('error', (err) => reject(new Error(`${cmd}: ${err.message}`)));
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.slice(-1000)}`))));
  });
}

export interface Postgres {
  url: string;
  /** Immediate shutdown (no checkpoint: recovery replays the WAL on start, as after a crash). */
  crash(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** initdb (trust auth, loopback only) in `dir`/pg and start it on `port`. */
export async function startPostgres(dir: string, port: number): Promise<Postgres> {
  const data = path.join(dir, 'pg');
  mkdirSync(data, { recursive: true });
  if (process.getuid?.() === 0) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (ids.status !== 0) throw new Error('running as root needs a "postgres" user for initdb (it refuses root)');
    chownSync(dir, Number(ids.stdout), Number(gid.stdout));
    chownSync(data, Number(ids.stdout), Number(gid.stdout));
  }
  await run(path.join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { asPostgres: true });
  // Durability as shipped (fsync, synchronous_commit on): "every acknowledged write is present" means something.
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=200`;
  const ctl = (...args: string[]) => run(path.join(PG_BIN, 'pg_ctl'), ['-D', data, ...args], { asPostgres: true });
  const pg: Postgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: async () => { await ctl('-o', opts, '-l', path.join(dir, 'pg.log'), '-w', '-t', '60', 'start'); },
    crash: async () => { await ctl('-m', 'immediate', '-w', 'stop'); },
    stop: async () => { await ctl('-m', 'fast', '-w', 'stop').catch(() => { /* already stopped */ }); },
  };
  await pg.start();
  return pg;
}

export interface RedisNode {
  port: number;
  /** SIGKILL: the store vanishes as in a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/**
 * One redis-server on `port`, its files in `dir`. With `persist`, an append-only file fsynced on every write
 * (`appendfsync always`), so a kill -9 loses nothing it acknowledged, as a production Redis holding sessions
 * should be set up; without, a restart comes back empty (every session gone).
 */
export function redisNode(dir: string, port: number, o: { persist: boolean; cluster?: boolean }): RedisNode {
  mkdirSync(dir, { recursive: true });
  let child: ChildProcess | null = null;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    ...(o.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(o.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] : [])];
  return {
    port,
    start() {
      const c = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      return new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`redis-server on ${port} did not start: ${out.slice(-500)}`)), 20_000);
        c.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
        });
        c.once('error', (err) => { clearTimeout(timer); reject(err); });
        c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server on ${port} exited (${code}): ${out.slice(-500)}`)); });
      });
    },
    kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL'); });
    },
  };
}

/** Joins started cluster-enabled nodes into a cluster with no replicas and waits until it serves every slot. */
export async function createCluster(ports: number[]): Promise<void> {
  await run(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  await waitClusterOk(ports, 30_000);
}

/** Resolves once every node reports `cluster_state:ok`. */
export async function waitClusterOk(ports: number[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = ports.every((p) => {
      const r = spawnSync(REDIS_CLI, ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' });
      return r.status === 0 && r.stdout.includes('cluster_state:ok');
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`the Redis Cluster on ${ports.join(',')} is not ok after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** The index of the node holding the most keys (DBSIZE): the cluster fault restarts the master that matters most. */
export async function busiestNode(ports: number[]): Promise<number> {
  const sizes = await Promise.all(ports.map((p) => run(REDIS_CLI, ['-p', String(p), 'dbsize']).then((o) => Number(o.trim()) || 0, () => 0)));
  return sizes.indexOf(Math.max(...sizes));
}
