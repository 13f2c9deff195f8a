import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { VERSION } from '../modules/discovery/index.js';

const SECURITY_BY_MODE: Record<string, Record<string, string[]>[] | undefined> = {
  user: [{ bearerAuth: [] }, { apiKey: [] }, { accessCookie: [] }],
  session: [{ bearerAuth: [] }, { accessCookie: [] }],
  admin: [{ adminKey: [] }],
  optional: [{ bearerAuth: [] }, { apiKey: [] }, {}],
  mcp: [{ bearerAuth: [] }],
};

/** @fastify/swagger over the zod route schemas; each operation's security follows its declared auth mode. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Authplane',
        version: VERSION,
        description: 'Self-hosted, multi-tenant authentication and authorization. Errors: {"error","message","requestId"}. Pick a tenant with X-Tenant-ID on unauthenticated calls. Agents: start at GET /auth/discovery.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from login/refresh (typ at+jwt).' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'User API key ck_… (also accepted as Authorization: Bearer ck_…).' },
          accessCookie: { type: 'apiKey', in: 'cookie', name: '__Host-ap_access', description: 'Browser flows; state changes need an allowed Origin.' },
          adminKey: { type: 'http', scheme: 'bearer', description: 'Admin key ak_… (admin plane only).' },
        },
      },
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const mode = (input.route?.config as { auth?: string } | undefined)?.auth;
      const security = mode ? SECURITY_BY_MODE[mode] : undefined;
      if (security) (out.schema as Record<string, unknown>).security = security;
      return out;
    },
    transformObject: (input) => fixSharedRefs(jsonSchemaTransformObject(input)),
  });
}

const BROKEN_SHARED_REF = '#/components/schemas/__shared#/$defs/';

/**
 * Recursive schemas (`z.json()`, `z.lazy`) become `$defs` under the `__shared` component, but
 * fastify-type-provider-zod 7 writes their references as `…/__shared#/$defs/x`, which is not a JSON
 * pointer (turkerdev/fastify-type-provider-zod#210). Rewrites them to `…/__shared/$defs/x`; the
 * OpenAPI test validates that every reference resolves.
 */
function fixSharedRefs<T>(doc: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(v)) {
      out[k] = k === '$ref' && typeof child === 'string' && child.startsWith(BROKEN_SHARED_REF)
        ? `#/components/schemas/__shared/$defs/${child.slice(BROKEN_SHARED_REF.length)}`
        : walk(child);
    }
    return out;
  };
  return walk(doc) as T;
}
