import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress } from '../../src/modules/webhooks/address.js';
import { postWebhook, RESPONSE_BODY_MAX, type PostOptions } from '../../src/modules/webhooks/transport.js';
import { urlProblem } from '../../src/modules/webhooks/url-rule.js';
import { retryDelayMs } from '../../src/modules/webhooks/worker.js';
import { fencedTransport } from '../helpers/webhook-receiver.js';

/**
 * SECURITY (webhooks): the resolved address is checked at delivery time, the connection goes to the checked
 * address (no second lookup to rebind), no redirect is followed, the answer is bounded in time and size.
 * No packet leaves loopback: names resolve from a table and the connector refuses anything off 127.0.0.0/8
 * (`fence.violations` must stay empty, except where a test proves the fence itself).
 */
const fence = fencedTransport({
  'metadata.test': ['169.254.169.254'],
  'intranet.test': ['10.1.2.3'],
  'mixed.test': ['93.184.216.34', '10.0.0.1'],
  'v6-loopback.test': ['::1'],
  'mapped.test': ['::ffff:127.0.0.1'],
  'receiver.test': ['127.0.0.1'],
});
let server: http.Server;
let port: number;
let hits: { url: string; host: string }[] = [];
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end('ok');

beforeAll(async () => {
  server = http.createServer((req, res) => { hits.push({ url: req.url ?? '', host: req.headers.host ?? '' }); answer(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const post = (url: string, o: Partial<PostOptions> = {}) => postWebhook({
  url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: false, ...fence.transport as Required<typeof fence.transport>, ...o,
});

describe('refused before any connection', () => {
  it('loopback (when private targets are not allowed), 169.254.169.254, a name resolving to 10.x, a mixed answer, ::1 and mapped IPv4', async () => {
    const before = fence.connects.length;
    for (const url of [
      `http://127.0.0.1:${port}/`, `http://receiver.test:${port}/`, 'http://169.254.169.254/latest/meta-data/', 'http://metadata.test/',
      'http://intranet.test/', 'https://mixed.test/', 'http://v6-loopback.test/', 'http://mapped.test/', 'http://[::1]/', 'http://[::ffff:7f00:1]/',
      'http://0.0.0.0/', 'http://100.100.100.200/',
    ]) {
      const r = await post(url);
      expect(r.ok, url).toBe(false);
      expect(r.error, url).toMatch(/^refused: /);
    }
    // Link-local / metadata stay refused even with WEBHOOK_ALLOW_PRIVATE=true.
    for (const url of ['http://169.254.169.254/', 'http://metadata.test/', 'http://[fd00:ec2::254]/']) {
      expect((await post(url, { allowPrivate: true })).error, url).toMatch(/link-local, metadata or reserved/);
    }
    expect(fence.connects.length).toBe(before);
    expect(hits).toEqual([]);
    expect(fence.violations).toEqual([]);
  });

  it('the fence itself: an allowed private address off loopback reaches the connector, which refuses it and records the violation', async () => {
    const r = await post('http://intranet.test/', { allowPrivate: true });
    expect(r.ok).toBe(false);
    expect(fence.violations).toEqual(['10.1.2.3:80']);
    fence.violations.length = 0;
  });
});

describe('delivery to an allowed address', () => {
  it('connects to the checked address, with the URL\'s host name in the Host header (no second lookup)', async () => {
    hits = [];
    const r = await post(`http://receiver.test:${port}/in?x=1`, { allowPrivate: true });
    expect(r).toMatchObject({ ok: true, status: 200, body: 'ok', error: null });
    expect(hits).toEqual([{ url: '/in?x=1', host: `receiver.test:${port}` }]);
    expect(fence.connects.at(-1)).toBe('127.0.0.1');
  });

  it('does not follow a redirect (a 3xx is a failure)', async () => {
    hits = [];
    answer = (_req, res) => { res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }); res.end(); };
    const r = await post(`http://127.0.0.1:${port}/in`, { allowPrivate: true });
    expect(r).toMatchObject({ ok: false, status: 302, error: 'redirects are not followed' });
    expect(hits.map((h) => h.url)).toEqual(['/in']);
  });

  it('keeps at most 1 KiB of the answer, storable (no NUL)', async () => {
    answer = (_req, res) => { res.writeHead(500); res.end(`a\u0000${'é'.repeat(4000)}`); };
    const r = await post(`http://127.0.0.1:${port}/`, { allowPrivate: true });
    expect(r.status).toBe(500);
    expect(Buffer.byteLength(r.body!)).toBeLessThanOrEqual(RESPONSE_BODY_MAX);
    expect(r.body).not.toContain('\u0000');
  });

  it('gives up when the receiver does not answer within the timeout', async () => {
    answer = () => {};
    const started = Date.now();
    const r = await post(`http://127.0.0.1:${port}/`, { allowPrivate: true, timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, status: null, error: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
    answer = (_req, res) => res.end('ok');
  });

  it('an unknown name fails cleanly', async () => {
    expect(await post('https://nowhere.test/')).toMatchObject({ ok: false, error: 'the host name could not be resolved' });
  });
});

describe('rules', () => {
  it('registration: https only unless private targets are allowed; no credentials; literal private / metadata addresses refused', () => {
    const strict = { allowPrivate: false };
    expect(urlProblem('https://hooks.example.com/x', strict)).toBeNull();
    expect(urlProblem('http://hooks.example.com/x', strict)).toMatch(/https/);
    expect(urlProblem('https://127.0.0.1/', strict)).toMatch(/loopback or private/);
    expect(urlProblem('https://localhost/', strict)).toMatch(/localhost/);
    expect(urlProblem('https://10.0.0.1/', strict)).toMatch(/private/);
    expect(urlProblem('https://a:b@hooks.example.com/', strict)).toMatch(/user name/);
    expect(urlProblem('http://127.0.0.1:9/', { allowPrivate: true })).toBeNull();
    expect(urlProblem('http://169.254.169.254/', { allowPrivate: true })).toMatch(/metadata/);
  });

  it('address classes', () => {
    const strict = { allowPrivate: false };
    for (const a of ['127.0.0.1', '10.9.9.9', '172.16.0.1', '192.168.1.1', '100.64.0.1', '::1', 'fc00::1', '::ffff:10.0.0.1', '64:ff9b::a00:1']) {
      expect(classifyAddress(a, strict), a).toBe('refused_private');
    }
    for (const a of ['169.254.169.254', 'fe80::1', '0.0.0.0', '224.0.0.1', '255.255.255.255', 'fd00:ec2::254']) {
      expect(classifyAddress(a, { allowPrivate: true }), a).toBe('refused_reserved');
    }
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']) expect(classifyAddress(a, strict), a).toBe('ok');
  });

  it('retry delays grow exponentially, jittered to 50–100 %, capped at one hour', () => {
    expect(retryDelayMs(1, () => 0)).toBe(5_000);
    expect(retryDelayMs(1, () => 1)).toBe(10_000);
    expect(retryDelayMs(3, () => 1)).toBe(40_000);
    expect(retryDelayMs(40, () => 1)).toBe(3_600_000);
  });
});
