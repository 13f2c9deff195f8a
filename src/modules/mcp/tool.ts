import type { DataExportService } from '../data-export/service.js';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Tenant } from '../tenants/schemas.js';
import type { SessionService } from '../sessions/service.js';
import type { UserService } from '../users/service.js';
import type { ApiKeyService } from '../api-keys/service.js';
import type { OrgServices } from '../orgs/service.js';
import type { AuthzService } from '../authz/service.js';
import type { MfaService } from '../mfa/service.js';
import type { AdminService } from '../admin/service.js';
import type { McpBearer, McpCaller } from './bearer.js';
import { TOOL_SCOPES, type ToolName } from './tool-names.js';

/** One tool call: who calls, in which tenant, and the request facts for the audit. */
export interface ToolContext {
  caller: McpCaller;
  tenant: Tenant;
  ctx: AuditContext;
  /** the derived client address (the decision engine's env.ip) */
  ip: string;
}

/** The services tools call (the same ones the REST routes call: never a second implementation). */
export interface ToolDeps {
  config: Readonly<Config>;
  log: Logger;
  audit: AuditService;
  sessions: SessionService;
  users: UserService;
  apiKeys: ApiKeyService;
  orgs: OrgServices;
  authz: AuthzService;
  mfa: MfaService;
  admin: AdminService;
  /** the user's own data (src/modules/data-export) */
  dataExport: DataExportService;
  bearer: McpBearer;
  /** the tools the static-token service principal may call (MCP_SERVICE_TOOLS) */
  serviceTools: ReadonlySet<string>;
}

/** MCP tool annotations (hints for clients; never relied on for security). */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint: false;
}

export interface ToolDef {
  name: ToolName;
  title: string;
  description: string;
  input: z.ZodType;
  output: z.ZodType;
  annotations: ToolAnnotations;
  /** user: an access token's user only; service: the static token only (when enabled); both. */
  callers: 'user' | 'service' | 'both';
  run(c: ToolContext, args: unknown): Promise<unknown>;
}

/** Declares a tool with its handler typed by its schemas. */
export function defineTool<I extends z.ZodType, O extends z.ZodType>(t: Omit<ToolDef, 'input' | 'output' | 'run'> & {
  input: I; output: O; run(c: ToolContext, args: z.output<I>): Promise<z.input<O>>;
}): ToolDef {
  return t as unknown as ToolDef;
}

/** Whether this caller may call the tool (tools/list shows only these). */
export function permitted(tool: ToolDef, caller: McpCaller, serviceTools: ReadonlySet<string>): boolean {
  if (caller.kind === 'user') return tool.callers !== 'service';
  if (caller.kind === 'oauth') return tool.callers !== 'service' && TOOL_SCOPES[tool.name] !== null && missingScope(tool, caller) === null;
  return tool.callers !== 'user' && serviceTools.has(tool.name);
}

/**
 * The scope an OAuth caller lacks for this tool (the 403 insufficient_scope names it), or null when it has
 * it, or when no scope would help (the tool is never callable over OAuth, or the caller is no OAuth client).
 */
export function missingScope(tool: ToolDef, caller: McpCaller): 'mcp:read' | 'mcp:write' | null {
  if (caller.kind !== 'oauth' || tool.callers === 'service') return null;
  const needed = TOOL_SCOPES[tool.name];
  return needed === null || caller.grant.scopes.has(needed) ? null : needed;
}

/** The user an access token acts as; the static token has none (403, as REST answers a non-user credential). */
const notAUser = () => new AppError('forbidden', 'This tool acts as a user: call it with a user\'s access token, not the deployment\'s MCP token.');

export function userOf(c: ToolContext): SessionPrincipal {
  if (c.caller.kind === 'service') throw notAUser();
  return c.caller.principal;
}

/**
 * The user as the session store holds it now, for tools that change something: a session revoked a moment
 * ago (even if the cache has not heard yet) cannot act, and the step-up state is current. For an OAuth
 * caller: the token verified again (user active, grant live).
 */
export async function freshUserOf(d: Pick<ToolDeps, 'bearer'>, c: ToolContext): Promise<SessionPrincipal> {
  if (c.caller.kind === 'service') throw notAUser();
  if (c.caller.kind === 'oauth') return d.bearer.freshOAuth(c.caller.token);
  return d.bearer.fresh(c.caller.token);
}

export const READ_ONLY: ToolAnnotations = { readOnlyHint: true, openWorldHint: false };
