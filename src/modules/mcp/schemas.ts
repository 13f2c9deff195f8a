import { z } from 'zod';
import { CHALLENGE_RE } from '../mfa/kv-store.js';
import { AuthorizeBody, AuthorizeResponse, PermissionsBody, PermissionsResponse } from '../authz/schemas.js';
import { ApiKeyInfo, CreateApiKeyBody, CreatedApiKey } from '../api-keys/schemas.js';
import { AuditEntry, decodeCursor } from '../admin/schemas.js';
import { OrgBody } from '../orgs/schemas.js';
import { UserBody } from '../users/schemas.js';
import { SessionBody } from '../sessions/schemas.js';

/**
 * Tool inputs and outputs. They reuse the REST routes' schemas (one source of truth for what a field
 * accepts), re-wrapped as plain objects so that each tool's JSON Schema has `type: object` at its root,
 * as MCP requires. Inputs are strict: an unknown argument is a JSON-RPC -32602 error.
 */
const plain = <S extends z.ZodRawShape>(s: z.ZodObject<S>) => z.object(s.shape);

export const TotpChallengeArg = z.string().regex(CHALLENGE_RE, 'must be the ch_… value of a totp_required result')
  .describe('the challenge of a previous totp_required result of this tool, completed with POST /auth/totp/complete {challenge, code}');

const Uuid = (what: string) => z.uuid({ message: `must be ${what} (a uuid)` });
const Paged = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const NoArguments = z.object({}).strict();

export const WhoamiOutput = z.object({
  principal: z.enum(['user', 'mcp_service']).describe('user: an access token; mcp_service: the deployment\'s static MCP_TOKEN'),
  tenant: z.object({ id: z.uuid(), slug: z.string() }),
  user: plain(UserBody).optional().describe('the object GET /auth/user answers (Cedros UserResponse: id, email, emailVerified, solanaPublicKey when a wallet is linked, createdAt, and our extras)'),
  sessionId: z.uuid().optional(),
  orgId: z.uuid().nullable().optional().describe('the token\'s active organization'),
  roles: z.array(z.string()).optional().describe('the token\'s roles in its active organization'),
  amr: z.array(z.string()).optional(),
  mfaEnabled: z.boolean().optional(),
  oauth: z.object({
    clientId: z.string(), scopes: z.array(z.string()), expiresAt: z.string().describe('ISO-8601: when the access token expires'),
  }).optional().describe('for an access token of the tenant\'s OpenID Provider: the OAuth client the user authorized and the scopes granted'),
  tools: z.array(z.string()).describe('the tools this caller may call'),
});

export const ListOrganizationsInput = z.object({
  limit: z.number().int().min(1).max(200).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
}).strict();
export const ListOrganizationsOutput = Paged(plain(OrgBody));

export const CheckPermissionInput = plain(AuthorizeBody).strict();
export const CheckPermissionOutput = plain(AuthorizeResponse);

export const ListPermissionsInput = plain(PermissionsBody).strict();
export const ListPermissionsOutput = plain(PermissionsResponse);

export const SessionItem = plain(SessionBody);
export const ListSessionsOutput = Paged(SessionItem);

export const RevokeByIdInput = (what: string) => z.object({ id: Uuid(what) }).strict();
export const RevokedOutput = z.object({ revoked: z.literal(true), id: z.uuid() });

export const ListApiKeysOutput = Paged(plain(ApiKeyInfo));

export const CreateApiKeyInput = z.object({ ...CreateApiKeyBody.shape, totpChallenge: TotpChallengeArg.optional() }).strict();
export const CreateApiKeyOutput = plain(CreatedApiKey);

export const RevokeApiKeyInput = z.object({ id: Uuid('an API key id'), totpChallenge: TotpChallengeArg.optional() }).strict();

export const GetAuditEventsInput = z.object({
  actorId: z.string().min(1).max(200).optional().describe('user id, API key id or admin key id'),
  action: z.string().regex(/^[a-z0-9_]+\.[a-z0-9_.]+$/, 'must be an action such as "user.login"').max(100).optional(),
  from: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional().describe('inclusive'),
  to: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional().describe('exclusive'),
  cursor: z.string().refine((c) => decodeCursor(c) !== null, 'must be a nextCursor from a previous page').optional(),
  limit: z.number().int().min(1).max(200).default(50),
}).strict().refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), { message: 'from must not be after to', path: ['from'] });
export const GetAuditEventsOutput = z.object({ items: z.array(plain(AuditEntry)), nextCursor: z.string().nullable() });

/** RFC 9728 protected-resource metadata. */
export const ProtectedResourceMetadata = z.object({
  resource: z.string().describe('<PUBLIC_URL>/mcp: the resource indicator (RFC 8707) and the aud of the access tokens /mcp accepts'),
  authorization_servers: z.array(z.string()).describe('the tenant\'s OpenID Provider issuer, <PUBLIC_URL>/oidc/<tenant slug>'),
  scopes_supported: z.array(z.string()).describe('mcp:read (tools that only read), mcp:write (tools that change something)'),
  bearer_methods_supported: z.array(z.string()),
  resource_name: z.string(),
  resource_documentation: z.string(),
}).meta({ id: 'ProtectedResourceMetadata' });

/** A JSON-RPC 2.0 message as MCP sends it (documentation: the endpoint checks messages itself). */
export const JsonRpcRequestDoc = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string(), z.number()]).optional().describe('absent for a notification'),
  method: z.string().describe('initialize, notifications/initialized, ping, tools/list, tools/call'),
  params: z.record(z.string(), z.unknown()).optional(),
}).loose().meta({ id: 'McpJsonRpcMessage' });

export const JsonRpcResponseDoc = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string(), z.number()]).nullable(),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() }).optional()
    .describe('-32700 parse error, -32600 invalid request (also: batches), -32601 unknown method, -32602 invalid params (unknown tool, bad or too large arguments)'),
}).loose().meta({ id: 'McpJsonRpcResponse' });
