import type { AddressInfo } from 'node:net';
import { createTestApp, TEST_PUBLIC_URL, type TestApp } from '../../../test/helpers/app.js';
import { raiseLimits } from '../../../test/helpers/identity.js';

/** The real server (backend of TEST_BACKEND, embedded by default) listening on a free loopback port. */
export interface LiveServer {
  t: TestApp;
  baseUrl: string;
  issuer: string;
  defaultTenantId: string;
  /** A fetch that records `METHOD /path` of every request, for counting calls. */
  fetch: typeof fetch;
  calls: string[];
  count(methodAndPath: string): number;
  close(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}): Promise<LiveServer> {
  const t = await createTestApp({ env });
  await raiseLimits(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  const calls: string[] = [];
  const counting: typeof fetch = (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    calls.push(`${(init?.method ?? 'GET').toUpperCase()} ${url.pathname}`);
    return fetch(input, init);
  };
  return {
    t,
    baseUrl: `http://127.0.0.1:${port}`,
    issuer: TEST_PUBLIC_URL,
    defaultTenantId: (await t.deps.tenants.defaultTenant()).id,
    fetch: counting,
    calls,
    count: (m) => calls.filter((c) => c === m).length,
    close: () => t.close(),
  };
}

let n = 0;
export const newEmail = (tag = 'client') => `${tag}${++n}-${process.pid}-${Date.now()}@example.com`;
export const PASSWORD = 'correct horse battery staple';
