import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A redis-server a fault test starts, kills and restarts on a spare port (the in-process store cannot be stopped). */
export interface RedisServer {
  url: string;
  start(): Promise<void>;
  /** SIGKILL: the store vanishes as in a crash. */
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

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

/** Reserves a port and returns a handle; call `start()` before use. Needs redis-server on the PATH (or REDIS_SERVER_BIN). */
export async function redisServer(): Promise<RedisServer> {
  const found = spawnSync(REDIS_BIN, ['--version']);
  if (found.error) throw new Error(`this test needs ${REDIS_BIN} on the PATH (or REDIS_SERVER_BIN): ${found.error.message}`);
  const port = await freePort();
  let child: ChildProcess | null = null;
  return {
    url: `redis://127.0.0.1:${port}`,
    start() {
      const c = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      return new Promise((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
        c.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
        c.once('error', (err) => { clearTimeout(timer); reject(err); });
        c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}): ${out}`)); });
      });
    },
    stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
  };
}
