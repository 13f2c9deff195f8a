import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { enableMetrics, registry } from './registry.js';

export interface MetricsServer {
  /** The bound address (port 0 picks a free one). */
  address: AddressInfo;
  close(): Promise<void>;
}

/**
 * The Prometheus scrape endpoint, `GET /metrics`, on a listener of its own (METRICS_PORT, METRICS_HOST
 * default 127.0.0.1): not the API's server, so no route, proxy rule or CORS setting of the API can expose
 * it, and a scrape never waits behind API traffic's connection caps. Answers only GET/HEAD /metrics.
 */
export async function startMetricsServer(o: { host: string; port: number; log?: Logger }): Promise<MetricsServer> {
  enableMetrics();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the only path here is /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (err: unknown) => {
      o.log?.error({ err }, 'metrics collection failed');
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
