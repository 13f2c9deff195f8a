import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { BACKEND } from '../../helpers/backend.js';
import { newEmail, PASSWORD } from '../../helpers/identity.js';
import { flushTracing, stopTracing, tracer } from '../../../src/modules/tracing/tracing.js';

/**
 * OpenTelemetry traces (issue 19), exported over OTLP/HTTP (JSON) to a receiver in this test on loopback:
 * the request span continues the caller's `traceparent` and carries the request id, the store calls and
 * the password hash are its children, and no secret of the traffic reaches the collector.
 */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

let t: TestApp;
let receiver: Server;
const bodies: string[] = [];
const paths: string[] = [];

function spans(): OtlpSpan[] {
  return bodies.flatMap((b) => (JSON.parse(b).resourceSpans ?? []).flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans as OtlpSpan[])));
}
const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
};

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(req.url ?? '');
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  t = await createTestApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } });
});

afterAll(async () => {
  await t?.close();
  await stopTracing();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('traces', () => {
  it('exports a request span under the caller\'s traceparent, with store and argon2 children and no secrets', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const traceparent = `00-${traceId}-${parentId}-01`;
    const email = newEmail('traced');
    const reg = await call(t.app, { method: 'POST', url: '/auth/register', json: { email, password: PASSWORD }, headers: { traceparent, 'x-request-id': 'trace-req-1' } });
    expect(reg.statusCode, reg.body).toBe(200);
    const { accessToken, refreshToken } = reg.data.tokens as { accessToken: string; refreshToken: string };
    const me = await call(t.app, { method: 'GET', url: `/auth/user?token=${accessToken}`, token: accessToken, headers: { 'x-request-id': 'trace-req-2' } });
    expect(me.statusCode).toBe(200);
    const ref = await call(t.app, { method: 'POST', url: '/auth/refresh', json: { refreshToken } });
    expect(ref.statusCode, ref.body).toBe(200);
    // A span with secret attributes made by any code path: the exporter redacts on the way out.
    tracer().startSpan('probe', { attributes: { password: PASSWORD, note: `leaked ${accessToken}`, 'http.request.header.authorization': `Bearer ${accessToken}` } }).end();
    await flushTracing();

    const all = spans();
    const request = all.find((s) => s.traceId === traceId && s.parentSpanId === parentId);
    expect(request, JSON.stringify(all.map((s) => s.name))).toBeDefined();
    expect(request!.name).toBe('POST /auth/register');
    expect(request!.kind).toBe(2); // SERVER
    expect(attr(request!, 'authplane.request_id')).toBe('trace-req-1');
    expect(attr(request!, 'http.route')).toBe('/auth/register');
    expect(Number(attr(request!, 'http.response.status_code'))).toBe(200);
    const children = all.filter((s) => s.traceId === traceId && s.parentSpanId === request!.spanId);
    const names = new Set(children.map((s) => s.name));
    expect(names).toContain('argon2 hash');
    expect(names).toContain(BACKEND === 'services' ? 'postgresql insert' : 'pglite insert');
    if (BACKEND === 'services') expect([...names].some((n) => n.startsWith('redis '))).toBe(true);
    const insert = children.find((s) => s.name.endsWith(' insert'))!;
    expect(String(attr(insert, 'db.query.text'))).toMatch(/^\s*INSERT INTO/i);

    const getMe = all.find((s) => attr(s, 'authplane.request_id') === 'trace-req-2')!;
    expect(getMe.name).toBe('GET /auth/user');
    expect(getMe.traceId).not.toBe(traceId);

    const probe = all.find((s) => s.name === 'probe')!;
    expect(attr(probe, 'password')).toBe('[REDACTED]');
    expect(attr(probe, 'http.request.header.authorization')).toBe('[REDACTED]');
    expect(attr(probe, 'note')).toBe('leaked [REDACTED]');

    const exported = bodies.join('\n');
    for (const secret of [PASSWORD, accessToken, refreshToken, ref.data.tokens.accessToken, ref.data.tokens.refreshToken]) expect(exported).not.toContain(secret);
    expect(exported).not.toContain(email);
    expect(paths.every((p) => p === '/v1/traces')).toBe(true);
  });
});
