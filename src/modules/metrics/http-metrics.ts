import type { FastifyInstance } from 'fastify';
import { routeConfigOf } from '../../http/route-config.js';
import { httpDuration, httpRequests, type CounterChild, type HistogramChild } from './registry.js';

/** The route label of a request no route matched (404s, and methods no route has): one series, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Methods that get their own label value; anything else (PROPFIND, a made-up token) is `other`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** The labelled children of one (route, method): the latency histogram and one counter per status class. */
interface Series {
  duration: HistogramChild;
  counts: (CounterChild | undefined)[];
  route: string;
  method: string;
}

/**
 * Counts every answered request by route *pattern*, method and status class, and observes its latency.
 * The label values come from the matched route (a bounded set fixed at start) and a fixed method list,
 * never from the URL, so a client cannot add series. The children are looked up once per (route,
 * method) and kept on a WeakMap keyed by the route's config object, so a request costs two map reads,
 * an increment and a histogram observation: no label string is built per request.
 */
export function registerHttpMetrics(app: FastifyInstance): void {
  const byRoute = new WeakMap<object, Map<string, Series>>();
  app.addHook('onResponse', (req, reply, done) => {
    const config = routeConfigOf(req);
    let perMethod = byRoute.get(config);
    if (perMethod === undefined) byRoute.set(config, (perMethod = new Map()));
    let s = perMethod.get(req.method);
    if (s === undefined) {
      const route = config.url ?? UNMATCHED_ROUTE;
      const method = METHODS.has(req.method) ? req.method : 'other';
      s = { duration: httpDuration.labels(route, method), counts: [], route, method };
      // A route's methods are a fixed set, but an unmatched request can carry any method token: those share `other`.
      if (METHODS.has(req.method) || perMethod.size < METHODS.size + 1) perMethod.set(req.method, s);
    }
    const code = reply.statusCode;
    const cls = code >= 100 && code < 600 ? Math.floor(code / 100) : 5;
    let c = s.counts[cls];
    if (c === undefined) c = s.counts[cls] = httpRequests.labels(s.route, s.method, STATUS_CLASSES[cls]!);
    c.inc();
    s.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}
