import type { ModuleDef } from '../module.js';
import { protectedResourceUrl, mcpRoutes } from './routes.js';
import { SESSION_CACHE_TTL_MS } from './session-cache.js';
import { MAX_ARGUMENT_BYTES } from './runner.js';
import { SERVICE_TOOLS, TOOL_SCOPES, USER_TOOLS } from './tool-names.js';
import { MCP_SCOPES, mcpResource } from './oauth-tokens.js';

const GATED = new Set(['create_api_key', 'revoke_api_key']);

/** The MCP endpoint for AI agents (DESIGN §4 "agents"): POST /mcp and /.well-known/oauth-protected-resource, at the root. */
export const mcpModule: ModuleDef = {
  name: 'mcp',
  mount: 'root',
  plugin: mcpRoutes,
  discovery: (config) => ({
    endpoint: `${config.publicUrl}/mcp`,
    protocol: 'MCP over Streamable HTTP (JSON-RPC 2.0), stateless: POST one message per request; answers are JSON (no SSE); no Mcp-Session-Id; GET and DELETE answer 405',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: 'Bearer <access token | OAuth access token | MCP token>' },
    protectedResourceMetadata: protectedResourceUrl(config.publicUrl),
    authenticate: {
      accessToken: `Authorization: Bearer <accessToken from ${config.basePath}/login or /refresh>: the tools act as that user with the user's own permissions, in the token's tenant. The session is checked against the session store and cached at most ${SESSION_CACHE_TTL_MS / 1000} s per instance; logout or revocation drops the cache on every instance at once. When the store cannot be reached and nothing fresh is cached the call is refused (503).`,
      mcpToken: `Authorization: Bearer <MCP_TOKEN> (set by the operator; unset = off): the deployment's service principal (audit actor mcp_service), acting in the tenant named by X-Tenant-ID (else "default"), with the tools MCP_SERVICE_TOOLS enables (default: ${SERVICE_TOOLS.join(', ')}).`,
      oauth: {
        summary: `MCP authorization (OAuth 2.1): a client without a token gets 401 with WWW-Authenticate: Bearer resource_metadata="…", scope="${MCP_SCOPES.join(' ')}"; the metadata names the tenant's OpenID Provider (${config.publicUrl}/oidc/<tenant slug>); the client registers dynamically, runs authorization code + PKCE (S256) with resource=${mcpResource(config.publicUrl)}, the user signs in and consents on the hosted pages, and the client sends the access token as Authorization: Bearer.`,
        accepted: `JWT, header typ "at+jwt", signed by this deployment's keys (the JWKS at ${config.publicUrl}/.well-known/jwks.json), iss = ${config.publicUrl}/oidc/<tenant slug>, aud containing ${mcpResource(config.publicUrl)} (any other audience → 401 invalid_token), exp/nbf with 30 s leeway; its user must exist and be neither disabled nor deleted; the tools act as that user, in the issuer's tenant, limited to the token's scopes.`,
        scopes: Object.fromEntries(MCP_SCOPES.map((s) => [s, USER_TOOLS.filter((t) => TOOL_SCOPES[t] === s)])),
        notOverOAuth: 'create_api_key (it would create a credential that outlives the grant) and get_audit_events (static token only). revoke_api_key for a user with MFA is refused (403): a TOTP step-up cannot be completed with an OAuth token.',
        insufficientScope: 'tools/call of a tool the token\'s scopes do not cover → HTTP 403 with WWW-Authenticate: Bearer error="insufficient_scope", scope="<the token\'s scopes plus the needed one>"; tools/list shows only the tools the scopes cover.',
        clientCredentials: 'Tokens a client got for itself (client credentials: sub = client_id) are refused with 403: the tools act as a user.',
        protectedResourceMetadata: `${protectedResourceUrl(config.publicUrl)}?tenant=<slug> (also without ?tenant=: X-Tenant-ID or the default tenant)`,
      },
      refused: 'API keys (ck_), admin keys (ak_), cookies, cross-domain handoff tokens. No bearer → 401 with WWW-Authenticate: Bearer resource_metadata="…", scope="mcp:read mcp:write"; a bad one → 401 invalid_token. A browser Origin must be one of the tenant\'s allowed origins (else 403).',
    },
    tools: {
      user: USER_TOOLS.map((name) => ({ name, ...(GATED.has(name) ? { totpGate: true } : {}) })),
      service: SERVICE_TOOLS.map((name) => ({ name })),
      list: 'tools/list returns the tools the caller may call, with JSON Schemas of their arguments and results',
    },
    totpGate: [
      'create_api_key and revoke_api_key, for a user with MFA whose session has not stepped up in the last 5 minutes, return isError: true and text {"error":"totp_required","challenge":"ch_…"}',
      `POST ${config.basePath}/totp/complete {"challenge","code"} with the same access token and the user's current TOTP code`,
      'call the same tool again with the same arguments plus "totpChallenge": "ch_…" (single use, 5 minutes, bound to the session and the tool)',
      `or step the session up for 5 minutes first with POST ${config.basePath}/mfa/verify {"code"}`,
    ],
    errors: {
      protocol: `JSON-RPC errors: -32700 not JSON, -32600 not a JSON-RPC message or a batch, -32601 unknown method, -32602 unknown tool or arguments that do not match the tool's schema or exceed ${MAX_ARGUMENT_BYTES} bytes`,
      tool: 'a refusal or failure of a tool is a result with isError: true whose text is {"error": "<code of the REST API>", "message": "…"} — e.g. forbidden, not_found, totp_required (+ challenge), validation_failed',
      http: '401 (bearer), 403 (Origin, tenant_mismatch), 413 (body over 1 MiB), 415, 429, 503 use the REST error shape',
    },
    audit: 'every tools/call is audited as mcp.tool_call (tool, caller, outcome, duration, arguments with secrets redacted)',
  }),
};
