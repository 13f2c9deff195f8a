import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import type { ModuleDef } from '../module.js';

const Health = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
const Ready = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: z.enum(['ok', 'unavailable']), kv: z.enum(['ok', 'unavailable']) }),
}).meta({ id: 'Ready' });

async function check(fn: () => Promise<void>): Promise<'ok' | 'unavailable'> {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
    return 'ok';
  } catch {
    return 'unavailable';
  }
}

const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/health', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: { operationId: 'health', tags: ['Discovery'], summary: 'Liveness: the process answers.', response: { 200: Health } },
  }, async () => ({ status: 'ok' as const }));

  r.get('/ready', {
    config: { auth: 'public', rateLimit: 'none' },
    schema: {
      operationId: 'ready', tags: ['Discovery'], summary: 'Readiness: Postgres and the key–value store answer.',
      response: { 200: Ready, 503: Ready },
    },
  }, async (_req, reply) => {
    const [postgres, kv] = await Promise.all([check(() => deps.sql.ping()), check(() => deps.kv.ping())]);
    const ok = postgres === 'ok' && kv === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { postgres, kv } });
  });
};

export const healthModule: ModuleDef = { name: 'health', plugin };
