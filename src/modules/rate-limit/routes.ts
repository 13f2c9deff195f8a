import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { auditContext } from '../../http/audit-context.js';
import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import { errorResponses, IdParam, ListOf, Paging } from '../../http/schemas.js';
import type { Ban } from './ban-store.js';

const BanBody = z.object({
  id: z.uuid(),
  ip: z.string().describe('the banned client address: an IPv4 address, or an IPv6 /64 such as 2001:db8:0:0::/64'),
  reason: z.string(),
  lockouts: z.number().int().describe('lockouts in the 24 hours before the ban'),
  createdAt: z.iso.datetime(),
  liftedAt: z.iso.datetime().nullable(),
  liftedBy: z.string().nullable(),
}).meta({ id: 'Ban' });

const BanList = ListOf(BanBody).meta({ id: 'BanList' });

const BanQuery = Paging.extend({
  status: z.enum(['active', 'lifted', 'all']).default('active'),
}).strict();

const LiftByIpQuery = z.object({
  ip: z.string().min(2).max(64).regex(/^[0-9A-Fa-f.:/]+$/, 'must be an IP address or an IPv6 /64 as listed'),
}).strict();

const toBody = (b: Ban) => ({
  id: b.id, ip: b.ip, reason: b.reason, lockouts: b.lockouts, createdAt: b.createdAt.toISOString(),
  liftedAt: b.liftedAt?.toISOString() ?? null, liftedBy: b.liftedBy,
});

/** Admin plane: list and lift permanent address bans (RL-03). */
export const banRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { rateLimit } = deps.services;

  r.get('/admin/bans', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'listBans', tags: ['Admin'], summary: 'List address bans (active by default), newest first.',
      description: 'An address is banned permanently after its third lockout within 24 hours (a lockout: 10 refused requests on the sign-in routes within 15 minutes). A banned address gets 403 banned on every route but /health.',
      querystring: BanQuery,
      response: { 200: BanList, ...errorResponses(400, 401, 403) },
    },
  }, async (req) => {
    const { status, limit, offset } = req.query;
    const page = await rateLimit.listBans({ status, limit, offset });
    return { items: page.items.map(toBody), total: page.total, limit, offset };
  });

  r.delete('/admin/bans/:id', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'liftBan', tags: ['Admin'], summary: 'Lift an active ban; the address\'s lockout and lockout history are cleared too.',
      params: IdParam('id'),
      response: { 200: BanBody, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (req) => {
    const ban = await rateLimit.liftBan({ id: req.params.id }, actorOf(req.auth), auditContext(req));
    if (!ban) throw new AppError('not_found', 'No active ban with this id.');
    return toBody(ban);
  });

  r.delete('/admin/bans', {
    config: { auth: 'admin' },
    schema: {
      operationId: 'liftBanByIp', tags: ['Admin'], summary: 'Lift the active ban on an address (?ip=1.2.3.4, any IPv6 spelling, or the listed /64).',
      querystring: LiftByIpQuery,
      response: { 200: BanBody, ...errorResponses(400, 401, 403, 404) },
    },
  }, async (req) => {
    const ban = await rateLimit.liftBan({ ip: req.query.ip }, actorOf(req.auth), auditContext(req));
    if (!ban) throw new AppError('not_found', 'No active ban on this address.');
    return toBody(ban);
  });
};
