/**
 * The MCP tools by name (no I/O, no imports: the config reads it to validate MCP_SERVICE_TOOLS).
 * User tools act as the access token's user; service tools are the ones the static MCP_TOKEN may be
 * given, because they need no user (the deployment picks which with MCP_SERVICE_TOOLS).
 */
export const USER_TOOLS = [
  'whoami', 'list_organizations', 'check_permission', 'list_permissions', 'list_sessions', 'revoke_session',
  'list_api_keys', 'create_api_key', 'revoke_api_key', 'export_my_data',
] as const;

/** Tools the static-token service principal can be allowed to call (each acts on the request's tenant). */
export const SERVICE_TOOLS = ['whoami', 'get_audit_events'] as const;

export const TOOL_NAMES = [...new Set<string>([...USER_TOOLS, ...SERVICE_TOOLS])] as readonly ToolName[];

export type ToolName = (typeof USER_TOOLS)[number] | (typeof SERVICE_TOOLS)[number];

/** MCP_SERVICE_TOOLS when unset. */
export const DEFAULT_SERVICE_TOOLS = 'whoami,get_audit_events';

/**
 * The OAuth scope an access token of the tenant's OpenID Provider needs for each tool (docs/mcp-oauth.md):
 * mcp:read for tools that only read, mcp:write for tools that change something. null: never over OAuth —
 * get_audit_events is the static token's only; create_api_key would turn a delegated, revocable grant into
 * a standing credential that outlives the grant (revoking the client's consent would not end it).
 */
export const TOOL_SCOPES: Readonly<Record<ToolName, 'mcp:read' | 'mcp:write' | null>> = {
  whoami: 'mcp:read',
  list_organizations: 'mcp:read',
  check_permission: 'mcp:read',
  list_permissions: 'mcp:read',
  list_sessions: 'mcp:read',
  list_api_keys: 'mcp:read',
  export_my_data: 'mcp:read',
  revoke_session: 'mcp:write',
  revoke_api_key: 'mcp:write',
  create_api_key: null,
  get_audit_events: null,
};
