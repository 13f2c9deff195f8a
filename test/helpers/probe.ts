import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../src/deps.js';
import type { ModuleDef } from '../../src/modules/module.js';
import { createPgSql } from '../../src/db/pg.js';
import { createMemoryKv } from '../../src/kv/memory.js';
import { errorResponses } from '../../src/http/schemas.js';

/** A planted secret: it must never reach a response body or a log line. */
export const PLANTED_SECRET = 'ck_PlantedSecretThatMustNeverLeak0123456789abcd';

const EchoBody = z.object({
  name: z.string().min(1).max(50),
  count: z.number().int().min(0).optional(),
  nested: z.object({ email: z.email() }).optional(),
  tags: z.array(z.string()).optional(),
}).strict();

const Echo = z.object({ received: z.unknown() });
const TenantOut = z.object({ id: z.string(), slug: z.string(), fromHeader: z.boolean() });

// A database nobody listens on (port 1): the driver fails with ECONNREFUSED, as when Postgres is down.
const DEAD_PG_URL = 'postgres://postgres@127.0.0.1:1/nothing';

/**
 * Probe routes for the HTTP-convention tests, mounted under the base path through `extraModules`.
 * Each declares `config.auth` and zod schemas like a real capability route.
 */
export function probeModule(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const deadSql = createPgSql(DEAD_PG_URL, { max: 1 });
    const closedKv = createMemoryKv();
    await closedKv.close();
    app.addHook('onClose', async () => { await deadSql.close().catch(() => {}); });

    r.post('/probe/echo', {
      config: { auth: 'public' },
      schema: { operationId: 'probeEcho', body: EchoBody, response: { 200: Echo, ...errorResponses(400, 413, 415) } },
    }, async (req) => ({ received: req.body }));

    r.get('/probe/tenant', {
      config: { auth: 'public' },
      schema: { operationId: 'probeTenant', response: { 200: TenantOut, ...errorResponses(404) } },
    }, async (req) => ({ id: req.tenant!.id, slug: req.tenant!.slug, fromHeader: req.tenantFromHeader }));

    r.get('/probe/query', {
      config: { auth: 'public' },
      schema: { operationId: 'probeQuery', querystring: z.object({ limit: z.coerce.number().int().min(1).max(10) }), response: { 200: Echo } },
    }, async (req) => ({ received: req.query }));

    r.get('/probe/boom', {
      config: { auth: 'public' },
      schema: { operationId: 'probeBoom', response: { 200: Echo } },
    }, async () => {
      throw new Error(`kaboom: internal detail ${PLANTED_SECRET} at /srv/secret/path.ts`);
    });

    r.get('/probe/db-down', {
      config: { auth: 'public' },
      schema: { operationId: 'probeDbDown', response: { 200: Echo, ...errorResponses(503) } },
    }, async () => ({ received: await deadSql.tx(null, (tx) => tx.query('SELECT 1')) }));

    r.get('/probe/kv-down', {
      config: { auth: 'public' },
      schema: { operationId: 'probeKvDown', response: { 200: Echo, ...errorResponses(503) } },
    }, async () => ({ received: await closedKv.get('anything') }));

    r.get('/probe/slow', {
      config: { auth: 'public' },
      schema: { operationId: 'probeSlow', querystring: z.object({ ms: z.coerce.number().int().min(0).max(5000).default(500) }), response: { 200: z.object({ slept: z.number() }) } },
    }, async (req) => {
      await new Promise((resolve) => setTimeout(resolve, req.query.ms));
      return { slept: req.query.ms };
    });
  };
  return { name: 'probe', plugin };
}

/** A module whose route forgets `config.auth`: building an app with it must fail. */
export function routeWithoutAuthModule(): ModuleDef {
  const plugin: FastifyPluginAsync<{ deps: Deps }> = async (app) => {
    app.get('/probe/no-auth', async () => ({ ok: true }));
  };
  return { name: 'no-auth-probe', plugin };
}
