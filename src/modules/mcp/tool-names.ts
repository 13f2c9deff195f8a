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
