import http from 'node:http';
import net, { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { WebhookTransport } from '../../src/modules/webhooks/service.js';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  host: string;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** answers for the next requests, in order; when empty, `fallback` */
  queue: { status: number; body?: string; headers?: Record<string, string> }[];
  fallback: { status: number; body?: string };
  close(): Promise<void>;
}

/** A local webhook receiver on 127.0.0.1 that records every request and answers from a queue. */
export async function startReceiver(): Promise<Receiver> {
  const r: Omit<Receiver, 'url' | 'port' | 'close'> = { received: [], queue: [], fallback: { status: 204 } };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.received.push({
        id: String(req.headers['webhook-id'] ?? ''), timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        signature: String(req.headers['webhook-signature'] ?? ''), host: String(req.headers.host ?? ''), body: Buffer.concat(chunks).toString('utf8'),
      });
      const a = r.queue.shift() ?? r.fallback;
      res.writeHead(a.status, { 'content-type': 'text/plain', ...(a as { headers?: Record<string, string> }).headers });
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hook`, port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  }) as Receiver;
}

const isLoopbackV4 = (a: string) => isIP(a) === 4 && a.startsWith('127.');

/**
 * The webhook transport every test uses: names resolve only from `names` (no DNS server is ever asked),
 * and the connector records — and refuses — any connection off 127.0.0.0/8, so a test can assert that
 * no packet left loopback (`violations` must stay empty).
 */
export function fencedTransport(names: Record<string, string[]> = {}): { transport: WebhookTransport; violations: string[]; connects: string[] } {
  const violations: string[] = [];
  const connects: string[] = [];
  return {
    violations, connects,
    transport: {
      resolve: async (host) => {
        const a = names[host];
        if (!a) throw Object.assign(new Error(`test resolver: unknown name ${host}`), { code: 'ENOTFOUND' });
        return a.map((address) => ({ address, family: isIP(address) === 6 ? 6 as const : 4 as const }));
      },
      connect: (o) => {
        connects.push(o.address);
        if (!isLoopbackV4(o.address)) {
          violations.push(`${o.address}:${o.port}`);
          throw new Error(`test fence: asked to connect to ${o.address}, off loopback`);
        }
        return net.connect({ host: o.address, port: o.port });
      },
    },
  };
}
