import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV_VARIABLES } from '../../src/config.js';
import { sleep } from './stores.js';

/**
 * The Authplane side of the soak (docs/soak.md): N `authplane serve` processes on their own ports and a
 * round-robin HTTP proxy in front of them, playing the load balancer.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'authplane.js');

/** This process's environment minus every Authplane variable (the harness sets its own). */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ENV_VARIABLES) delete env[k];
  delete env.NODE_ENV;
  return env;
}

/** Runs `authplane <args>` to completion (the one-off `migrate`). */
export function runCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { out += d; });
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`authplane ${args.join(' ')} exited ${code}: ${out.slice(-2000)}`))));
  });
}

export interface Instance {
  index: number;
  port: number;
  url: string;
  pid(): number | undefined;
  start(): Promise<void>;
  /** kill -9: no shutdown hook runs, in-flight requests are cut. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** GET /auth/ready on one instance: true on 200. */
export async function ready(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/auth/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export function instance(index: number, port: number, env: Record<string, string>, logDir: string): Instance {
  let child: ChildProcess | null = null;
  const url = `http://127.0.0.1:${port}`;
  const log = createWriteStream(path.join(logDir, `instance-${index}.log`), { flags: 'a' });
  return {
    index, port, url,
    pid: () => child?.pid,
    async start() {
      log.write(`--- start ${new Date().toISOString()}\n`);
      const c = spawn(process.execPath, [BIN, 'serve'], { cwd: ROOT, env: { ...baseEnv(), ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout!.pipe(log, { end: false });
      c.stderr!.pipe(log, { end: false });
      const until = Date.now() + 120_000;
      while (!(await ready(url))) {
        if (c.exitCode !== null) throw new Error(`instance ${index} exited (${c.exitCode}) while starting; see ${logDir}/instance-${index}.log`);
        if (Date.now() > until) throw new Error(`instance ${index} not ready after 120 s`);
        await sleep(100);
      }
    },
    kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL'); });
    },
    stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(() => c.kill('SIGKILL'), 5000);
        c.once('exit', () => { clearTimeout(t); resolve(); });
        c.kill('SIGTERM');
      });
    },
  };
}

export interface Proxy {
  url: string;
  close(): Promise<void>;
}

/**
 * A round-robin reverse proxy on 127.0.0.1:`port`. Like a load balancer with passive health checks, it
 * moves a request to the next backend when the connection is refused (the request never reached anyone)
 * and benches that backend for a second; a connection lost after the request was sent answers
 * 502 with `x-soak-proxy: backend-lost` (the outcome is unknown, as a real client would see it).
 * Each response carries `x-soak-backend: <index>`. A client names itself with `x-soak-vu: <n>`, which
 * becomes `X-Forwarded-For: 10.77.<n>` (the instances trust the proxy), so each virtual user has its own
 * address for rate limits and the hash pool's per-client share, as behind a real balancer.
 */
export function startProxy(port: number, backends: { port: number }[]): Promise<Proxy> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const benchedUntil = backends.map(() => 0);
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      const vu = Number(headers['x-soak-vu']);
      delete headers['x-soak-vu'];
      headers['x-forwarded-for'] = Number.isInteger(vu) ? `10.77.${(vu >> 8) & 255}.${vu & 255}` : '127.0.0.1';
      const attempt = (tries: number) => {
        const now = Date.now();
        let i = next++ % backends.length;
        for (let k = 0; k < backends.length && benchedUntil[i]! > now; k++) i = (i + 1) % backends.length;
        const up = http.request({ host: '127.0.0.1', port: backends[i]!.port, method: req.method, path: req.url, headers, agent, timeout: 60_000 }, (r) => {
          res.writeHead(r.statusCode ?? 502, { ...r.headers, 'x-soak-backend': String(i) });
          r.pipe(res);
        });
        up.on('timeout', () => up.destroy(new Error('backend timeout')));
        up.on('error', (err: NodeJS.ErrnoException) => {
          if (res.headersSent) { res.destroy(); return; }
          if (err.code === 'ECONNREFUSED' && tries < backends.length) {
            benchedUntil[i] = Date.now() + 1000;
            attempt(tries + 1);
            return;
          }
          res.writeHead(502, { 'content-type': 'application/json', 'x-soak-proxy': 'backend-lost', 'x-soak-backend': String(i) });
          res.end(JSON.stringify({ error: 'bad_gateway', message: `proxy: ${err.code ?? err.message}` }));
        });
        up.end(body);
      };
      attempt(1);
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((r) => { agent.destroy(); server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}
