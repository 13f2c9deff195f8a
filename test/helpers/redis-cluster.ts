import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const CLI_BIN = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** A local Redis Cluster of `masters` masters and no replicas, on free loopback ports. */
export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…`: what REDIS_URL / TEST_REDIS_URL take. */
  url: string;
  /** The client ports of the masters. */
  ports: number[];
  /** Stops every node (SIGTERM, then SIGKILL after 5 s) and removes their files. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Starts one node and resolves once it accepts connections. */
function startNode(port: number, busPort: number, dir: string): Promise<ChildProcess> {
  const child = spawn(REDIS_BIN, [
    '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
    '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`redis-server ${port} did not start: ${out}`)); }, 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        // Keep draining so a chatty node never blocks on a full pipe.
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server ${port} exited (${code}): ${out}`)); });
  });
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run(CLI_BIN, ['-h', '127.0.0.1', '-p', String(port), 'CLUSTER', 'INFO']);
  return stdout;
}

/**
 * Starts a Redis Cluster of `masters` (default 3) master nodes on free loopback ports (client and cluster
 * bus ports both picked free; needs Debian's redis-server ≥ 7 and redis-cli on the PATH), creates it with
 * `redis-cli --cluster create … --cluster-replicas 0` and resolves once every node reports cluster_state:ok
 * and knows every master. Call `stop()` when done (a failed start cleans up by itself).
 */
export async function startRedisCluster(o: { masters?: number } = {}): Promise<RedisCluster> {
  const masters = o.masters ?? 3;
  for (const bin of [REDIS_BIN, CLI_BIN]) {
    const found = spawnSync(bin, ['--version']);
    if (found.error) throw new Error(`a Redis Cluster needs ${bin} on the PATH: ${found.error.message}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ap-redis-cluster-'));
  const all = await distinctFreePorts(2 * masters);
  const ports = all.slice(0, masters);
  const children: ChildProcess[] = [];

  async function stop(): Promise<void> {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const kill = setTimeout(() => c.kill('SIGKILL'), 5_000);
      c.once('exit', () => { clearTimeout(kill); resolve(); });
      c.kill('SIGTERM');
    })));
    children.length = 0;
    rmSync(dir, { recursive: true, force: true });
  }

  try {
    for (let i = 0; i < masters; i++) children.push(await startNode(ports[i]!, all[masters + i]!, dir));
    await run(CLI_BIN, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(ports.map(clusterInfo));
      const ok = infos.every((info) => /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info));
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok: ${infos.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    ports,
    stop,
  };
}
