import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net, { type Socket } from 'node:net';
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND, createStores, type Stores } from '../helpers/backend.js';
import { probeModule } from '../helpers/probe.js';

/**
 * Issue 25: slow clients and connection floods. A request's headers, then the whole request, must arrive
 * within HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS (then 408 request_timeout and the connection
 * is closed); idle keep-alive connections and slow handlers are not cut off; /mcp refuses a request
 * without a live bearer before reading its body; MAX_CONNECTIONS and MAX_CONNECTIONS_PER_ADDRESS cap
 * open connections, with one log line per window rather than one per refused socket; /auth/health
 * stays fast while 1,000 slow connections are open. Loopback only (127.0.0.1 and 127.0.0.2).
 */

const MCP_TOKEN = 'm'.repeat(40);

/** A raw client socket: what it received, and when (ms after connecting) the server closed it. */
interface Client {
  socket: Socket;
  data(): string;
  closedAfter: Promise<number>;
}

// One database for the file: each describe builds its own app (its own limits) on it.
let stores: Stores;
beforeAll(async () => { stores = await createStores(); });
afterAll(async () => { await stores?.drop(); });

const clients: Socket[] = [];
/** Destroys every client socket (before an app is closed: close() waits for requests under way). */
const destroyClients = () => { for (const s of clients.splice(0)) s.destroy(); };
afterEach(destroyClients);

function portOf(app: FastifyInstance): number {
  const a = app.server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

async function listen(t: TestApp): Promise<number> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return portOf(t.app);
}

function connect(port: number, localAddress = '127.0.0.1'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    clients.push(socket);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { data += d; });
    socket.on('error', () => { /* a reset by the server counts as a close */ });
    const closedAfter = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
    socket.once('connect', () => resolve({ socket, data: () => data, closedAfter }));
    socket.once('error', reject);
  });
}

/** Writes one byte every `everyMs` until the socket closes. */
function drip(s: Socket, everyMs: number): void {
  const timer = setInterval(() => { if (s.writable) s.write('{'); }, everyMs);
  s.once('close', () => clearInterval(timer));
}

/** Polls `done` every 20 ms until it holds or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

/** The server's open connections, once it has accepted what the kernel queued (polled until `atLeast` or 5 s). */
async function serverConnections(app: FastifyInstance, atLeast = 0): Promise<number> {
  const count = () => new Promise<number>((r, j) => app.server.getConnections((e, n) => (e ? j(e) : r(n))));
  const end = Date.now() + 5000;
  let n = await count();
  while (n < atLeast && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    n = await count();
  }
  return n;
}

/** Resolves with `fallback` when `p` has not settled within `ms`. */
const within = <T>(p: Promise<T>, ms: number, fallback: T) => Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms))]);

/** GET over a fresh connection from `localAddress`: status, body and how long it took. */
function get(port: number, path: string, localAddress = '127.0.0.1'): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} took more than 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Parses a raw HTTP/1.1 answer: status, lower-cased headers, body. */
function parse(raw: string): { status: number; headers: Record<string, string>; body: any } {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const text = rest.join('\r\n\r\n');
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

const warnLines = (t: TestApp, kind: string) => t.logs.map((l) => JSON.parse(l)).filter((l) => l.refusal === kind);

const SLOW_LOGIN = 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';

describe(`slow requests are cut off within the configured bounds (${BACKEND})`, () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp({ stores, extraModules: [probeModule()], env: { HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '800' } });
    port = await listen(t);
  });
  afterAll(async () => { destroyClients(); await t?.close(); });

  it('a body dripped a byte at a time → 408 request_timeout in the error shape, then the connection is closed', async () => {
    const slow = await Promise.all([connect(port), connect(port), connect(port)]);
    for (const c of slow) {
      c.socket.write(SLOW_LOGIN);
      drip(c.socket, 50);
    }
    const closed = await Promise.all(slow.map((c) => within(c.closedAfter, 4000, Infinity)));
    for (const ms of closed) {
      expect(ms, 'cut off after the 800 ms bound, not before').toBeGreaterThanOrEqual(700);
      expect(ms, 'cut off within the bound (+ the check interval and slack)').toBeLessThan(2000);
    }
    const res = parse(slow[0]!.data());
    expect(res.status).toBe(408);
    expect(res.body).toMatchObject({ error: 'request_timeout', requestId: expect.any(String) });
    expect(res.body.message).toMatch(/800 ms/);
    expect(res.headers['x-request-id']).toBe(res.body.requestId);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.connection).toBe('close');
    // One line for the three cut-offs (the rest are summed when the 10 s window ends), no stack.
    expect(warnLines(t, 'timeout')).toHaveLength(1);
    expect(warnLines(t, 'timeout')[0].msg).toMatch(/HTTP_REQUEST_TIMEOUT_MS \(800 ms\)/);
    expect(t.logs.join('\n')).not.toMatch(/"stack"|\n\s+at /);
  });

  it('headers dripped a line at a time, or nothing at all → 408 after the headers bound (300 ms), before the request bound', async () => {
    const headers = await connect(port);
    headers.socket.write('GET /auth/health HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => { if (headers.socket.writable) headers.socket.write('X-Slow: 1\r\n'); }, 50);
    headers.socket.once('close', () => clearInterval(timer));
    const silent = await connect(port);
    const [h, s] = await Promise.all([within(headers.closedAfter, 4000, Infinity), within(silent.closedAfter, 4000, Infinity)]);
    for (const ms of [h, s]) {
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(750);
    }
    expect(parse(headers.data()).body.error).toBe('request_timeout');
  });

  it('an idle keep-alive connection is not a slow request: it serves another request after 2× the request bound', async () => {
    const c = await connect(port);
    c.socket.write('GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 1600));
    expect(parse(c.data()).status).toBe(200);
    const before = c.data().length;
    c.socket.write('GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(parse(c.data().slice(before)).status).toBe(200);
    expect(c.socket.destroyed).toBe(false);
  });

  it('Node\'s other raw refusals are in the error shape too: headers over 16 KB → 431, not HTTP → 400', async () => {
    const big = await connect(port);
    big.socket.write(`GET /auth/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const junk = await connect(port);
    junk.socket.write('NOT HTTP AT ALL\r\n\r\n');
    await Promise.all([within(big.closedAfter, 3000, Infinity), within(junk.closedAfter, 3000, Infinity)]);
    for (const [c, status, code] of [[big, 431, 'header_too_large'], [junk, 400, 'validation_failed']] as const) {
      const res = parse(c.data());
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ error: code, message: expect.any(String), requestId: res.headers['x-request-id'] });
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    }
  });

  it('a handler slower than the request bound still answers (the bound is on receiving the request)', async () => {
    const res = await get(port, '/auth/probe/slow?ms=1500');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ slept: 1500 });
  });
});

describe('/mcp refuses a request without a live bearer before reading its body', () => {
  let t: TestApp;
  let port: number;
  // The default bounds (10 s / 30 s): an answer within a second cannot come from a timeout.
  beforeAll(async () => {
    t = await createTestApp({ stores, env: { MCP_TOKEN } });
    port = await listen(t);
  });
  afterAll(async () => { destroyClients(); await t?.close(); });

  const cases: [string, string, string][] = [
    ['no bearer', '', 'unauthorized'],
    ['a bearer that is not a token', 'Authorization: Bearer not-a-token\r\n', 'invalid_token'],
    ['an API key', 'X-API-Key: ck_abcdefabcdefabcdefabcdef\r\n', 'invalid_token'],
  ];
  for (const [name, header, code] of cases) {
    it(`${name} → 401 ${code} at once, with the body still unsent, and the connection closed`, async () => {
      const c = await connect(port);
      c.socket.write(`POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${header}Content-Length: 1000\r\n\r\n{`);
      drip(c.socket, 100);
      const ms = await within(c.closedAfter, 3000, Infinity);
      expect(ms).toBeLessThan(1000);
      const res = parse(c.data());
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: code, requestId: expect.any(String) });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer .*resource_metadata=/);
      expect(res.headers.connection).toBe('close');
    });
  }

  it('a live bearer still gets its answer (the body is read after the check)', async () => {
    const c = await connect(port);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    c.socket.write(`POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: Bearer ${MCP_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    c.socket.write(body);
    await new Promise((r) => setTimeout(r, 300));
    const res = parse(c.data());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
  });
});

describe('connection caps', () => {
  let t: TestApp | undefined;
  afterEach(async () => { destroyClients(); await t?.close(); t = undefined; });

  /** Opens `n` connections from `from` and asks each for /auth/health: the ones answered, and how many were closed unanswered. */
  async function openAndAsk(port: number, n: number, from = '127.0.0.1'): Promise<{ answered: Client[]; refused: number }> {
    const cs = await Promise.all(Array.from({ length: n }, () => connect(port, from)));
    for (const c of cs) if (c.socket.writable) c.socket.write('GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => cs.every((c) => c.socket.destroyed || /\r\n\r\n.*\}/s.test(c.data())), 5000);
    const answered = cs.filter((c) => c.data().startsWith('HTTP/1.1 200'));
    for (const c of answered) expect(c.socket.destroyed).toBe(false);
    return { answered, refused: cs.filter((c) => c.data() === '' && c.socket.destroyed).length };
  }

  it('MAX_CONNECTIONS_PER_ADDRESS: the connections over the cap from one address are closed; another address is served; one log line', async () => {
    t = await createTestApp({ stores, env: { MAX_CONNECTIONS_PER_ADDRESS: '5' } });
    const port = await listen(t);
    const first = await openAndAsk(port, 25);
    expect(first.answered).toHaveLength(5);
    expect(first.refused).toBe(20);
    const other = await get(port, '/auth/health', '127.0.0.2');
    expect(other.status).toBe(200);
    // A connection that closes frees its place.
    first.answered[0]!.socket.destroy();
    await first.answered[0]!.closedAfter;
    await new Promise((r) => setTimeout(r, 50));
    const again = await openAndAsk(port, 3);
    expect(again.answered).toHaveLength(1);
    const lines = warnLines(t, 'per_address');
    expect(lines, 'one line for 22 refusals within the window').toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', count: 1, address: '127.0.0.1' });
    expect(lines[0].msg).toMatch(/MAX_CONNECTIONS_PER_ADDRESS \(5\)/);
    // The refusals that followed are summed in one line when the window ends (here: when the server closes).
    await t.close();
    const summed = warnLines(t, 'per_address');
    t = undefined;
    expect(summed).toHaveLength(2);
    expect(summed[1]).toMatchObject({ count: 21 });
  });

  it('MAX_CONNECTIONS: connections over the total cap are closed, whatever their address', async () => {
    t = await createTestApp({ stores, env: { MAX_CONNECTIONS: '6', MAX_CONNECTIONS_PER_ADDRESS: '0' } });
    const port = await listen(t);
    const a = await openAndAsk(port, 4, '127.0.0.1');
    const b = await openAndAsk(port, 4, '127.0.0.2');
    expect(a.answered.length + b.answered.length).toBe(6);
    expect(a.refused + b.refused).toBe(2);
    expect(warnLines(t, 'total')).toHaveLength(1);
    expect(warnLines(t, 'total')[0].msg).toMatch(/MAX_CONNECTIONS \(6\)/);
  });
});

describe('GET /auth/health stays fast while 1,000 slow connections are open', () => {
  let t: TestApp | undefined;
  afterEach(async () => { destroyClients(); await t?.close(); t = undefined; });

  /**
   * 1,000 connections from 127.0.0.1, each sending a login's headers at once and then its body a byte per
   * second, 50 at a time: each batch waits until the server has taken it (kept or refused), since a
   * client counts as connected while its connection still waits in the kernel's accept queue.
   */
  async function slowFlood(app: FastifyInstance, port: number): Promise<Client[]> {
    const flood: Client[] = [];
    const slow = async () => {
      const c = await connect(port);
      if (c.socket.writable) {
        c.socket.write(SLOW_LOGIN);
        drip(c.socket, 1000);
      }
      return c;
    };
    for (let i = 0; i < 1000; i += 50) {
      flood.push(...await Promise.all(Array.from({ length: 50 }, slow)));
      const end = Date.now() + 10_000;
      while ((await serverConnections(app)) + flood.filter((c) => c.socket.destroyed).length < flood.length && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return flood;
  }

  async function healthTimes(port: number, from: string): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const res = await get(port, '/auth/health', from);
      expect(res.status).toBe(200);
      times.push(res.ms);
    }
    return times;
  }

  it('all 1,000 admitted (caps raised): health answers in well under a second, and every slow one is cut off at the bound', async () => {
    t = await createTestApp({ stores, env: { MAX_CONNECTIONS_PER_ADDRESS: '2000', HTTP_HEADERS_TIMEOUT_MS: '4000', HTTP_REQUEST_TIMEOUT_MS: '8000' } });
    const port = await listen(t);
    const flood = await slowFlood(t.app, port);
    expect(await serverConnections(t.app, 1000), 'the slow connections are open on the server').toBeGreaterThanOrEqual(1000);
    const times = await healthTimes(port, '127.0.0.1');
    expect(Math.max(...times), `health took ${times.join(', ')} ms`).toBeLessThan(1000);
    // Every slow connection is closed by the server with a 408, 8 s after its request began (+ the 1 s check interval and slack).
    await until(() => flood.every((c) => c.socket.destroyed), 14_000);
    const closed = await Promise.all(flood.map((c) => within(c.closedAfter, 0, Infinity)));
    expect(closed.filter((ms) => ms === Infinity), 'slow connections still open').toHaveLength(0);
    expect(Math.min(...closed)).toBeGreaterThanOrEqual(7500);
    expect(Math.max(...closed)).toBeLessThan(12_000);
    expect(flood.filter((c) => c.data().startsWith('HTTP/1.1 408')).length).toBe(1000);
  }, 60_000);

  it('with the default caps one address holds at most 256 of them; health from another address answers in well under a second', async () => {
    t = await createTestApp({ stores });
    const port = await listen(t);
    const flood = await slowFlood(t.app, port);
    await until(() => flood.filter((c) => !c.socket.destroyed).length <= 256, 5000);
    expect(await serverConnections(t.app)).toBeLessThanOrEqual(256);
    expect(flood.filter((c) => !c.socket.destroyed)).toHaveLength(256);
    const times = await healthTimes(port, '127.0.0.2');
    expect(Math.max(...times), `health took ${times.join(', ')} ms`).toBeLessThan(1000);
    expect(warnLines(t, 'per_address')).toHaveLength(1);
  }, 30_000);
});
