import { randomUUID } from 'node:crypto';
import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionLimits } from '../config.js';
import { clientKey } from '../modules/rate-limit/client-ip.js';
import { helmetHeaders } from './security-headers.js';

/** The part of a logger this module writes to. */
interface WarnLog {
  warn(obj: object, msg: string): void;
}

type Refusal = 'per_address' | 'total' | 'timeout';

/** Refusals of one kind are logged at most once per window: the first at once, the rest summed at the window's end. */
export const REFUSAL_LOG_WINDOW_MS = 10_000;

/**
 * Slow clients and connection floods (issue 25), all per connection, nothing per request:
 *
 * - Node's `headersTimeout` and `requestTimeout` bound how long a request may take to arrive (its
 *   headers, then the whole request with its body), counted from its first byte. Node checks the
 *   connections that have a request under way every `connectionsCheckingInterval`; an idle keep-alive
 *   connection has none, so it is left to Fastify's keep-alive timeout, and a handler that takes long
 *   after the body has arrived is not cut off either.
 * - `maxConnections` caps the server's open sockets (new ones are closed at once; Node emits 'drop').
 * - A count per client address (IPv6 per /64, as the rate limiter keys it) closes a connection that
 *   would exceed MAX_CONNECTIONS_PER_ADDRESS as soon as it is accepted. Behind a proxy that is the
 *   proxy's address.
 *
 * A request cut off by a timeout is answered `408 request_timeout` in the error shape, then closed.
 * Refusals and cut-offs are logged at most once per REFUSAL_LOG_WINDOW_MS per kind (a flood writes a
 * line every 10 s, not one per socket).
 */
export function createConnectionLimits(limits: Readonly<ConnectionLimits>, log: WarnLog, windowMs = REFUSAL_LOG_WINDOW_MS) {
  const refusals = createRefusalLog(log, limits, windowMs);
  const securityHeaders = Object.entries(helmetHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');

  /** Raw answer on a socket that has no Fastify request yet (or whose request never arrived whole). */
  function rawError(socket: Socket, status: number, reason: string, code: string, message: string): void {
    // A response already under way on this socket cannot be followed by another (Node does the same check).
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) return;
    const requestId = randomUUID();
    const body = JSON.stringify({ error: code, message, requestId });
    socket.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n` +
      `x-request-id: ${requestId}\r\n${securityHeaders}\r\n${body}`);
  }

  return {
    /** Fastify's `requestTimeout` (it sets the server's own). */
    requestTimeout: limits.requestTimeoutMs,

    /** Options for http.createServer (Fastify's `http`): the checking interval can only be set there. */
    serverOptions: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // A slow request is cut off at most this long after its bound; the check walks only the
      // connections with a request under way.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    } satisfies ServerOptions,

    /**
     * Fastify's `clientErrorHandler`: Node's 408 (a timeout), 431 (headers too large) and 400 (not HTTP)
     * answered in the error shape of DESIGN §5 with the security headers, then the socket is closed.
     */
    onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        refusals.note('timeout', socket.remoteAddress);
        rawError(socket, 408, 'Request Timeout', 'request_timeout',
          `The request did not arrive in time: its headers must arrive within ${limits.headersTimeoutMs} ms and the whole request within ${limits.requestTimeoutMs} ms.`);
      } else if (err.code === 'HPE_HEADER_OVERFLOW') {
        rawError(socket, 431, 'Request Header Fields Too Large', 'header_too_large', 'The request headers are too large.');
      } else {
        rawError(socket, 400, 'Bad Request', 'validation_failed', 'The request is malformed.');
      }
      socket.destroy();
    },

    /** Applies the caps to the server that will listen (call once, before listen). */
    attach(server: Server): void {
      server.headersTimeout = limits.headersTimeoutMs;
      server.requestTimeout = limits.requestTimeoutMs;
      if (limits.maxConnections > 0) {
        server.maxConnections = limits.maxConnections;
        server.on('drop', (d) => refusals.note('total', d?.remoteAddress));
      }
      const perAddress = limits.maxConnectionsPerAddress;
      if (perAddress > 0) {
        const open = new Map<string, number>();
        server.on('connection', (socket: Socket) => {
          const key = clientKey(socket.remoteAddress);
          const n = open.get(key) ?? 0;
          if (n >= perAddress) {
            refusals.note('per_address', key);
            socket.destroy();
            return;
          }
          open.set(key, n + 1);
          socket.once('close', () => {
            const left = open.get(key)! - 1;
            if (left > 0) open.set(key, left);
            else open.delete(key);
          });
        });
      }
      server.once('close', () => refusals.stop());
    },
  };
}

export type ConnectionLimiter = ReturnType<typeof createConnectionLimits>;

const MESSAGES: Record<Refusal, (l: Readonly<ConnectionLimits>) => string> = {
  per_address: (l) => `connections refused: one client address already holds MAX_CONNECTIONS_PER_ADDRESS (${l.maxConnectionsPerAddress}) connections (behind a proxy, that address is the proxy's: raise the cap or set 0)`,
  total: (l) => `connections refused: MAX_CONNECTIONS (${l.maxConnections}) connections are open`,
  timeout: (l) => `slow requests cut off with 408: headers not received within HTTP_HEADERS_TIMEOUT_MS (${l.headersTimeoutMs} ms) or the whole request within HTTP_REQUEST_TIMEOUT_MS (${l.requestTimeoutMs} ms)`,
};

/**
 * One warn line per kind of refusal per window: the first refusal is logged at once and opens the
 * window; the ones that follow within it are counted and logged as one line when it ends (which opens
 * the next window). `count` is how many the line stands for; `address` the first one's.
 */
function createRefusalLog(log: WarnLog, limits: Readonly<ConnectionLimits>, windowMs: number) {
  const windows = new Map<Refusal, { timer: NodeJS.Timeout; count: number; address?: string }>();
  const write = (kind: Refusal, count: number, address: string | undefined) =>
    log.warn({ refusal: kind, count, address: address ?? null, windowSeconds: windowMs / 1000 }, MESSAGES[kind](limits));
  const open = (kind: Refusal) => {
    const w = { timer: setTimeout(() => close(kind), windowMs), count: 0, address: undefined as string | undefined };
    w.timer.unref();
    windows.set(kind, w);
  };
  const close = (kind: Refusal) => {
    const w = windows.get(kind);
    windows.delete(kind);
    if (w && w.count > 0) {
      write(kind, w.count, w.address);
      open(kind);
    }
  };
  return {
    note(kind: Refusal, address: string | undefined): void {
      const w = windows.get(kind);
      if (w === undefined) {
        write(kind, 1, address);
        open(kind);
        return;
      }
      if (w.count === 0) w.address = address;
      w.count += 1;
    },
    /** The server closed: the counts still pending are written now. */
    stop(): void {
      for (const [kind, w] of [...windows]) {
        clearTimeout(w.timer);
        windows.delete(kind);
        if (w.count > 0) write(kind, w.count, w.address);
      }
    },
  };
}
