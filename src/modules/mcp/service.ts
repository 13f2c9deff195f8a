import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolRequestSchema, ErrorCode, isJSONRPCRequest, JSONRPCMessageSchema, ListToolsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Unsubscribe } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { VERSION } from '../discovery/index.js';
import { createMcpBearer, type McpCaller } from './bearer.js';
import type { SessionRevocations } from '../sessions/revocations.js';
import { createToolRunner } from './runner.js';
import type { ToolContext, ToolDeps, ToolDef } from './tool.js';
import { identityTools } from './tools-identity.js';
import { credentialTools } from './tools-credentials.js';
import { AppError } from '../../http/errors.js';
import type { SigningKeys } from '../tokens/signing-keys.js';
import type { TenantService } from '../tenants/service.js';
import { createOAuthTokenVerifier, MCP_SCOPES, type OAuthGrantCheck } from './oauth-tokens.js';

/**
 * A tools/call an OAuth token's scopes do not cover: HTTP 403 with
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (MCP authorization, RFC 6750 §3.1),
 * so the client can ask the user for the wider scope. `scope` lists the token's scopes plus the one needed.
 */
export class InsufficientScopeError extends AppError {
  constructor(readonly scope: string, tool: string, needed: string) {
    super('forbidden', `${tool} needs the scope "${needed}", which this access token was not granted: authorize again with scope "${scope}".`, { requiredScope: needed });
  }
}

/** One POST /mcp after authentication: the caller, its tenant, the request facts and the parsed body. */
export interface McpExchange extends ToolContext {
  caller: McpCaller;
  body: unknown;
  /** the request's Accept, Content-Type and Mcp-Protocol-Version headers (the transport checks them) */
  headers: Record<string, string>;
}

/** What to send back: a status and, unless 202, a JSON body. */
export interface McpReply {
  status: number;
  body: string | null;
}

const INSTRUCTIONS = 'Authplane: identity, sessions, API keys and permission checks for the user of the access token you were given (or, with the deployment\'s MCP token, the service tools it enables). Tools act with that user\'s own permissions. create_api_key and revoke_api_key may answer {"error":"totp_required","challenge":"ch_…"}: complete it with POST <base>/totp/complete {challenge, code} and call again with "totpChallenge".';

/** A JSON-RPC error reply (HTTP 400 for a message we cannot take, 200 for a request we answer with an error). */
export const rpcError = (status: number, code: number, message: string, id: string | number | null = null): McpReply =>
  ({ status, body: JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }) });

const idOf = (body: unknown): string | number | null => {
  const id = body && typeof body === 'object' ? (body as { id?: unknown }).id : undefined;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
};

export type McpService = ReturnType<typeof createMcpService>;

/**
 * The MCP endpoint's service: the bearer check (static token or cached access token), the tools over the
 * capability services, and one stateless MCP server + Streamable HTTP transport per request (JSON
 * responses, no SSE, no MCP session: nothing is kept between requests, so any instance can answer).
 */
export function createMcpService(deps: Omit<ToolDeps, 'bearer' | 'serviceTools'> & {
  clock: Clock; revocations: SessionRevocations; keys: SigningKeys; tenants: Pick<TenantService, 'resolve'>;
  /** The OpenID Provider's grants (src/modules/mcp/oauth-grants.ts): a token whose grant was revoked is refused. */
  grants?: OAuthGrantCheck;
}) {
  const { config, clock, revocations, audit, log } = deps;
  const oauth = createOAuthTokenVerifier({ publicUrl: config.publicUrl, keys: deps.keys, clock, tenants: deps.tenants, users: deps.users, grants: () => deps.grants });
  const bearer = createMcpBearer({ config, clock, sessions: deps.sessions, generation: revocations.generation, oauth });
  const serviceTools = new Set<string>(config.mcpServiceTools);
  const toolDeps: ToolDeps = { ...deps, bearer, serviceTools };
  const tools: ToolDef[] = [];
  tools.push(...identityTools(toolDeps, () => tools), ...credentialTools(toolDeps));
  const runner = createToolRunner({ tools, serviceTools, audit, log });
  const instructions = INSTRUCTIONS.replace('<base>', config.basePath);

  function protocolServer(c: ToolContext): Server {
    const server = new Server({ name: 'authplane', version: VERSION }, { capabilities: { tools: {} }, instructions });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: runner.list(c.caller) }));
    server.setRequestHandler(CallToolRequestSchema, async (req) => runner.call(c, req.params));
    return server;
  }

  return {
    bearer,
    runner,
    /** The tool names, for discovery and tests. */
    toolNames: () => tools.map((t) => t.name),

    /** Subscribes the bearer cache to session revocations on every instance; call once at start. */
    start(): Promise<Unsubscribe> {
      return revocations.subscribe(bearer.onRevoked);
    },

    /**
     * Answers one JSON-RPC message. Batches are refused (-32600: MCP 2025-06-18 removed them, and one
     * request is one audited call); a body that is no JSON-RPC message is -32600; a tools/call whose
     * params the SDK would refuse before any handler is audited here, so every tools/call leaves a row.
     */
    async handle(x: McpExchange): Promise<McpReply> {
      const { body } = x;
      if (Array.isArray(body)) return rpcError(400, ErrorCode.InvalidRequest, 'Invalid Request: batches are not supported; send one JSON-RPC message per request.');
      if (!JSONRPCMessageSchema.safeParse(body).success) return rpcError(400, ErrorCode.InvalidRequest, 'Invalid Request: the body is not a JSON-RPC 2.0 message.', idOf(body));
      if (isJSONRPCRequest(body) && body.method === 'tools/call' && !CallToolRequestSchema.safeParse(body).success) {
        await runner.refused(x, body.params);
        return rpcError(200, ErrorCode.InvalidParams, 'Invalid params: tools/call needs {name: string, arguments?: object}.', body.id);
      }
      if (x.caller.kind === 'oauth' && isJSONRPCRequest(body) && body.method === 'tools/call') {
        const needed = await runner.scopeRefusal(x, body.params);
        if (needed !== null) {
          const scope = [...new Set([...x.caller.grant.scopes].filter((s) => (MCP_SCOPES as readonly string[]).includes(s)).concat(needed))].sort().join(' ');
          throw new InsufficientScopeError(scope, String((body.params as { name: unknown }).name).slice(0, 64), needed);
        }
      }
      let request: Request;
      try {
        request = new Request(`${config.publicUrl}/mcp`, { method: 'POST', headers: x.headers });
      } catch {
        return rpcError(400, ErrorCode.InvalidRequest, 'Invalid Request: the Accept, Content-Type or Mcp-Protocol-Version header is malformed.', idOf(body));
      }
      const server = protocolServer(x);
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      // Protocol errors are answered to the client by the transport; there is nothing more to report.
      transport.onerror = () => {};
      await server.connect(transport);
      try {
        const res = await transport.handleRequest(request, { parsedBody: body });
        return { status: res.status, body: res.status === 202 ? null : await res.text() };
      } finally {
        await server.close().catch(() => {});
      }
    },
  };
}
