import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echoes a client's `x-request-id` only when it is short and plain; otherwise makes one (LOG-02). */
export function genRequestId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && SANE_ID.test(h) ? h : randomUUID();
}
