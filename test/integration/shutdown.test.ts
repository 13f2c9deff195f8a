import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { probeModule } from '../helpers/probe.js';
import { startServer, tempDir } from '../helpers/cli.js';

/** Graceful shutdown: in-flight requests finish, new connections are refused, the process exits 0. */
describe('app.close() while a request is in flight', () => {
  let t: TestApp;
  beforeAll(async () => { t = await createTestApp({ extraModules: [probeModule()] }); });
  afterAll(async () => { await t?.close(); });

  it('lets the in-flight request finish with 200, then refuses new connections', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = t.app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

    const inFlight = fetch(`${base}/auth/probe/slow?ms=500`);
    await new Promise((r) => setTimeout(r, 150)); // the request is now being handled
    const started = Date.now();
    const closing = t.app.close();

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ slept: 500 });
    expect(res.headers.get('x-request-id')).toBeTruthy();
    // …and told the client not to reuse the socket, so close() need not wait for keep-alive to time out.
    expect(res.headers.get('connection')).toBe('close');
    await closing;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250); // close waited for the request…
    expect(took).toBeLessThan(5000); // …and not for an idle keep-alive socket

    const refused = await fetch(`${base}/auth/health`, { signal: AbortSignal.timeout(2000) }).then(() => null, (e: Error & { cause?: { code?: string } }) => e);
    expect(refused, 'a new connection after close').toBeInstanceOf(Error);
    expect(refused!.cause?.code).toBe('ECONNREFUSED');
  });
});

describe('the real server (authplane serve)', () => {
  it('answers /auth/health after start, and exits 0 on SIGTERM, releasing the embedded lock', async () => {
    const data = tempDir();
    try {
      const server = await startServer({ DATA_DIR: data.dir });
      expect(existsSync(path.join(data.dir, 'server.lock'))).toBe(true);
      const health = await fetch(`${server.url}/auth/health`);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${server.url}/auth/ready`);
      expect(ready.status).toBe(200);

      const t0 = Date.now();
      const { code, signal } = await server.stop(8000);
      expect({ code, signal }, server.output().stderr).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(existsSync(path.join(data.dir, 'server.lock')), 'the lock is released on exit').toBe(false);
      const out = server.output().stdout;
      expect(out).toMatch(/single instance only/); // the embedded-mode warning (DESIGN §1)
      expect(out).toMatch(/shutting down/);
    } finally {
      data.remove();
    }
  }, 120_000);
});
