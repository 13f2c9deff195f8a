import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../modules/audit/service.js';

/** The request facts each audit row carries. */
export function auditContext(req: FastifyRequest): AuditContext {
  const ua = req.headers['user-agent'];
  return { ip: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null, requestId: req.id };
}
