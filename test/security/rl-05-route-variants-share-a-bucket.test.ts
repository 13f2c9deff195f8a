import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, RATE_LIMIT_TEST_DEFAULTS, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';

/**
 * RL-05: spellings of the login path that reach the login handler count in one bucket (the route
 * pattern); any spelling that does not reach it is a 404. Sent over a real socket so the path is
 * exactly what a client wrote.
 */
let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await createTestApp({ env: RATE_LIMIT_TEST_DEFAULTS });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(async () => { await t?.close(); });

function post(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe(`route variants (${BACKEND})`, () => {
  it('every variant that reaches the login handler counts in the same bucket; the others are 404', async () => {
    const variants = ['//auth/login', '/auth/login/', '/auth//login', '/auth/LOGIN', '/auth/%6cogin', '/auth/login?x=RANDOM', '/auth/./login', '/auth/login'];
    const reached = new Set<string>();
    let admitted = 0;
    let refused = 0;
    for (let i = 0; admitted + refused < 25; i += 1) {
      const v = variants[i % variants.length]!.replace('RANDOM', String(Math.random()));
      const res = await post(v);
      expect([400, 404, 429], `${v}: ${res.body}`).toContain(res.status);
      if (res.status === 404) {
        expect(JSON.parse(res.body).error).toBe('not_found');
        continue;
      }
      reached.add(variants[i % variants.length]!);
      if (res.status === 400) {
        expect(refused, `${v} admitted after a refusal`).toBe(0);
        admitted += 1;
      } else {
        refused += 1;
      }
    }
    expect(admitted).toBe(20);
    expect(refused).toBe(5);
    // The canonical path and the query-string variant at least reach the handler.
    expect(reached).toContain('/auth/login');
    expect(reached).toContain('/auth/login?x=RANDOM');
  });
});
