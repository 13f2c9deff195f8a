import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { bindTenant } from '../../http/guard.js';
import { parseJsonBody } from '../../http/json-parser.js';
import { ErrorBody, errorResponses } from '../../http/schemas.js';
import type { McpCaller } from './bearer.js';
import { JsonRpcRequestDoc, JsonRpcResponseDoc, ProtectedResourceMetadata } from './schemas.js';
import { InsufficientScopeError, rpcError } from './service.js';
import { MCP_SCOPES, mcpResource, tenantIssuer } from './oauth-tokens.js';
import type { Tenant } from '../tenants/schemas.js';

const TAGS = ['Agents (MCP)'];

/** A body that could not be read as JSON: answered with a JSON-RPC parse error, not the REST error shape. */
class Unparsable {
  constructor(readonly reason: string) {}
}

export const protectedResourceUrl = (publicUrl: string) => `${publicUrl}/.well-known/oauth-protected-resource`;

/** The scopes a 401 asks for (RFC 6750 §3 `scope`, MCP authorization): every MCP scope. */
const CHALLENGE_SCOPE = MCP_SCOPES.join(' ');

/**
 * The MCP endpoint (MCP Streamable HTTP, stateless, JSON responses) and its RFC 9728 metadata. The guard
 * skips `auth: 'mcp'` routes: this plugin authenticates, binds the tenant and checks the Origin itself.
 */
export const mcpRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { config } = deps;
  const mcp = deps.services.mcp;
  const baseMetadataUrl = protectedResourceUrl(config.publicUrl);
  /**
   * The metadata URL a 401 points to. MCP clients fetch it without our headers, so a request that named its
   * tenant with X-Tenant-ID gets a URL naming it with ?tenant= (the metadata names that tenant's issuer).
   */
  const metadataUrlFor = (req: FastifyRequest) => (req.tenantFromHeader && req.tenant
    ? `${baseMetadataUrl}?tenant=${encodeURIComponent(req.tenant.slug)}`
    : baseMetadataUrl);
  const metadataOf = (tenant: Tenant) => ({
    resource: mcpResource(config.publicUrl),
    authorization_servers: [tenantIssuer(config.publicUrl, tenant.slug)],
    scopes_supported: [...MCP_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'Authplane MCP',
    resource_documentation: `${config.publicUrl}${config.basePath}/discovery`,
  });

  // JSON-RPC wants its own answer to a body that is not JSON (-32700), so this plugin reads the body
  // itself: the same safe parser as the rest of the API (no __proto__, strict UTF-8, bounded depth, no NUL), but a
  // failure becomes a value the handler answers, instead of the REST error shape.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, buf, done) => {
    const r = parseJsonBody(buf as Buffer);
    if (!r.ok) return done(null, new Unparsable(r.message));
    done(null, r.value === undefined ? new Unparsable('The request body is empty.') : r.value);
  });

  /** 401s carry the RFC 9728 pointer; refused bearers count against the credential limit (RL-06). */
  async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<McpCaller> {
    let caller: McpCaller;
    try {
      caller = await mcp.bearer.authenticate({ authorization: req.headers.authorization, 'x-api-key': req.headers['x-api-key'] });
    } catch (err) {
      if (err instanceof AppError && err.status === 401) {
        const metadataUrl = metadataUrlFor(req);
        reply.header('www-authenticate', err.code === 'unauthorized'
          ? `Bearer resource_metadata="${metadataUrl}", scope="${CHALLENGE_SCOPE}"`
          : `Bearer error="invalid_token", resource_metadata="${metadataUrl}", scope="${CHALLENGE_SCOPE}"`);
        const hit = await deps.services.rateLimit.hit({ cls: 'credential', tenant: req.tenant, route: 'MCP bearer refused', ip: req.ip, ctx: () => auditContext(req) });
        reply.header('ratelimit-limit', String(hit.limit));
        reply.header('ratelimit-remaining', String(hit.remaining));
        reply.header('ratelimit-reset', String(hit.resetSeconds));
        if (!hit.allowed) throw new AppError('rate_limited', `Too many refused bearers from this address; retry in ${hit.retryAfter} seconds.`, { retryAfter: hit.retryAfter });
      }
      throw err;
    }
    if (caller.kind !== 'service') await bindTenant(req, caller.principal, deps);
    // The static token acts in the tenant the request names (X-Tenant-ID, else "default"), as admin keys do.
    req.auth = caller.principal;
    // MCP transport spec: validate Origin (DNS rebinding). Non-browser clients send none; a browser's must
    // be one of the tenant's allowed origins.
    const origin = req.headers.origin;
    if (origin !== undefined && !req.tenant!.settings.allowedOrigins.includes(origin)) {
      throw new AppError('forbidden', 'The Origin of this request is not one of the tenant\'s allowed origins.');
    }
    return caller;
  }

  /**
   * Every /mcp route authenticates in onRequest, before a byte of the body is read: a client without a
   * live bearer cannot hold a connection open by sending its body slowly (issue 25). A refusal of a
   * request whose body has not been read closes the connection after the answer, instead of reading
   * (and discarding) the rest of that body to keep the connection alive.
   */
  const callers = new WeakMap<FastifyRequest, McpCaller>();
  const authenticateFirst = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      callers.set(req, await authenticate(req, reply));
    } catch (err) {
      const cl = req.headers['content-length'];
      if ((cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined) reply.header('connection', 'close');
      throw err;
    }
  };
  const callerOf = (req: FastifyRequest): McpCaller => {
    const caller = callers.get(req);
    if (caller === undefined) throw new Error('the /mcp onRequest hook did not run');
    return caller;
  };

  const methodNotAllowed = async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('allow', 'POST');
    throw new AppError('method_not_allowed', 'This MCP endpoint is stateless with JSON responses: send every JSON-RPC message with POST. It offers no SSE stream (GET) and no session to end (DELETE).');
  };

  r.post('/mcp', {
    config: { auth: 'mcp', rateLimit: 'default' },
    onRequest: authenticateFirst,
    // The body schema documents the message; the handler checks it and answers JSON-RPC errors itself.
    attachValidation: true,
    schema: {
      operationId: 'mcp', tags: TAGS, summary: 'MCP endpoint (Streamable HTTP, JSON-RPC 2.0) for AI agents.',
      description: `One JSON-RPC message per POST (no batches), Content-Type: application/json, Accept: application/json, text/event-stream. Authorization: Bearer <access token> (acts as that user; checked against the session store, cached at most 60 s, revocation applies at once) or Bearer <OAuth access token> (MCP authorization: issued by the tenant's OpenID Provider at <PUBLIC_URL>/oidc/<tenant slug> for the resource <PUBLIC_URL>/mcp, typ at+jwt; acts as the user who consented, limited to its scopes mcp:read / mcp:write; a tool outside them → 403 with WWW-Authenticate: Bearer error="insufficient_scope", scope="…") or Bearer <MCP_TOKEN> (the deployment's service principal, in the tenant named by X-Tenant-ID). No bearer → 401 with WWW-Authenticate: Bearer resource_metadata="<PUBLIC_URL>/.well-known/oauth-protected-resource", scope="mcp:read mcp:write" (RFC 9728; with ?tenant=<slug> when the request named a tenant). Methods: initialize, ping, tools/list, tools/call. Stateless: no Mcp-Session-Id. See GET ${config.basePath}/discovery (capabilities.mcp).`,
      body: JsonRpcRequestDoc,
      response: {
        200: JsonRpcResponseDoc,
        202: z.undefined().describe('a notification or response was accepted'),
        400: z.union([JsonRpcResponseDoc, ErrorBody]).describe('a JSON-RPC error (-32700 not JSON, -32600 not a JSON-RPC message or a batch), or the error shape'),
        406: JsonRpcResponseDoc.describe('Accept must list application/json and text/event-stream'),
        ...errorResponses(401, 403, 413, 415, 429, 503),
      },
    },
  }, async (req, reply) => {
    const caller = callerOf(req);
    // The transport's JSON text is sent as it is (a string is not run through the response serializer).
    const raw = reply as unknown as FastifyReply;
    const send = (status: number, body: string | null) => (body === null
      ? raw.code(status).send()
      : raw.code(status).type('application/json; charset=utf-8').send(body));
    const body: unknown = req.body;
    if (body === undefined || body instanceof Unparsable) {
      const reason = body instanceof Unparsable ? body.reason : 'the body is empty';
      const e = rpcError(400, -32700, `Parse error: ${reason}.`);
      return send(e.status, e.body);
    }
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'content-type', 'mcp-protocol-version'] as const) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    let out;
    try {
      out = await mcp.handle({ caller, tenant: req.tenant!, ctx: auditContext(req), ip: req.ip, headers, body });
    } catch (err) {
      if (err instanceof InsufficientScopeError) {
        reply.header('www-authenticate', `Bearer error="insufficient_scope", scope="${err.scope}", resource_metadata="${metadataUrlFor(req)}"`);
      }
      throw err;
    }
    return send(out.status, out.body);
  });

  for (const method of ['GET', 'DELETE'] as const) {
    r.route({
      method, url: '/mcp',
      config: { auth: 'mcp', rateLimit: 'default' },
      onRequest: authenticateFirst,
      schema: {
        operationId: method === 'GET' ? 'mcpStream' : 'mcpEndSession', tags: TAGS,
        summary: method === 'GET' ? 'No SSE stream: 405 (after authentication).' : 'No MCP session to end: 405 (after authentication).',
        response: { 405: ErrorBody.describe('Method not allowed: POST only'), ...errorResponses(401, 403, 429, 503) },
      },
      handler: methodNotAllowed,
    });
  }

  for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    r.get(url, {
      config: { auth: 'public', rateLimit: 'none' },
      schema: {
        operationId: url.endsWith('/mcp') ? 'mcpProtectedResourceForPath' : 'mcpProtectedResource', tags: TAGS,
        summary: 'OAuth protected-resource metadata of the MCP endpoint (RFC 9728).',
        description: 'Names the authorization server of the tenant (`<PUBLIC_URL>/oidc/<tenant slug>`): the tenant of `?tenant=<slug or uuid>` (the URL a 401 from /mcp points to when the request named a tenant), else of X-Tenant-ID, else the default tenant. resource is `<PUBLIC_URL>/mcp`, the audience the access tokens must carry; scopes_supported: mcp:read (tools that only read) and mcp:write (tools that change something).',
        querystring: z.object({ tenant: z.string().min(1).max(64).optional().describe('tenant slug or uuid') }),
        response: { 200: ProtectedResourceMetadata, ...errorResponses(400, 404) },
      },
    }, async (req, reply) => {
      let tenant = req.tenant!;
      if (req.query.tenant !== undefined) {
        const named = await deps.tenants.resolve(req.query.tenant);
        if (!named) throw new AppError('not_found', 'Unknown tenant.');
        if (req.tenantFromHeader && named.id !== tenant.id) throw new AppError('validation_failed', 'The tenant parameter and the X-Tenant-ID header name different tenants.');
        tenant = named;
      }
      reply.header('cache-control', 'public, max-age=300');
      reply.header('vary', 'X-Tenant-ID');
      return metadataOf(tenant);
    });
  }
};
