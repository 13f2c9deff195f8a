import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Logger } from 'pino';
import { ErrorCode, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { AppError, UnavailableError, type ErrorCode as AppErrorCode } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import { isConnectionError } from '../../db/errors.js';
import { isConnectionFailure } from '../../kv/kv-errors.js';
import type { AuditEvent, AuditService } from '../audit/service.js';
import type { McpCaller } from './bearer.js';
import { missingScope, permitted, type ToolContext, type ToolDef } from './tool.js';

/** Arguments larger than this (as JSON) are refused with -32602 before any tool runs. */
export const MAX_ARGUMENT_BYTES = 64 * 1024;
/** Arguments larger than this are summarised in the audit row instead of stored (still redacted when stored). */
const MAX_AUDITED_ARGUMENT_BYTES = 8 * 1024;

const DENIED = new Set<AppErrorCode>(['forbidden', 'totp_required', 'mfa_enrollment_required', 'tenant_mismatch', 'invalid_token']);

/** A tool's JSON Schema as MCP lists it: `type: object` at the root, no `$schema` (clients pick their dialect). */
function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  if (rest.type !== 'object') throw new Error(`an MCP tool ${io} schema must be an object schema`);
  return rest as Tool['inputSchema'];
}

/**
 * A JSON-RPC error for the SDK's protocol layer, which sends `code`, `message` and `data` as they are
 * (the SDK's McpError would prefix its message with "MCP error <code>:", and clients prefix it again).
 */
export class RpcError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
    this.name = 'RpcError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Outcome { outcome: AuditEvent['outcome']; error?: string }

/**
 * Runs `tools/call` for one caller: resolves the tool, checks who may call it, validates the arguments
 * against the tool's schema, runs it, and writes exactly one `mcp.tool_call` audit row per call whatever
 * happens (arguments redacted by the shared redaction of DESIGN §5, in audit.record). Protocol problems
 * (unknown tool, arguments of the wrong shape or too large) are JSON-RPC -32602 errors; refusals and
 * failures of the tool itself are tool results with `isError: true` and the error code of DESIGN §5.
 */
export function createToolRunner(deps: { tools: ToolDef[]; serviceTools: ReadonlySet<string>; audit: AuditService; log: Logger }) {
  const { tools, serviceTools, audit, log } = deps;
  const byName = new Map(tools.map((t) => [t.name as string, t]));
  const listed = new Map(tools.map((t) => [t.name as string, {
    name: t.name, title: t.title, description: t.description,
    inputSchema: jsonSchema(t.input, 'input'), outputSchema: jsonSchema(t.output, 'output'),
    annotations: { title: t.title, ...t.annotations },
  } satisfies Tool]));

  /** A refusal or failure of the tool, as a result the agent reads: text JSON {error, message, …fields}. */
  function toolError(err: unknown, tool: string): { result: CallToolResult; outcome: Outcome } {
    let body: Record<string, unknown>;
    let outcome: Outcome;
    if (err instanceof AppError) {
      body = { error: err.code, message: err.message, ...err.fields };
      outcome = { outcome: err.status >= 500 ? 'error' : DENIED.has(err.code) ? 'denied' : 'failure', error: err.code };
    } else if (err instanceof UnavailableError || isConnectionFailure(err) || isConnectionError(err)) {
      body = { error: 'unavailable', message: 'A service this tool depends on is unavailable; try again shortly.' };
      outcome = { outcome: 'error', error: 'unavailable' };
    } else {
      log.error({ err, tool }, 'mcp tool failed');
      body = { error: 'internal_error', message: 'Something went wrong on our side; the error was logged.' };
      outcome = { outcome: 'error', error: 'internal_error' };
    }
    return { result: { content: [{ type: 'text', text: JSON.stringify(body) }], isError: true }, outcome };
  }

  async function execute(c: ToolContext, name: string | null, args: unknown): Promise<{ result: CallToolResult; outcome: Outcome }> {
    if (name === null) throw new RpcError(ErrorCode.InvalidParams, 'tools/call needs params.name: one of the tools tools/list returns.');
    const tool = byName.get(name);
    if (!tool) throw new RpcError(ErrorCode.InvalidParams, `Unknown tool "${name.slice(0, 64)}": tools/list returns the tools you may call.`);
    if (args !== undefined && !isObject(args)) throw new RpcError(ErrorCode.InvalidParams, `Invalid arguments for ${name}: arguments must be a JSON object.`);
    const bytes = Buffer.byteLength(JSON.stringify(args ?? {}));
    if (bytes > MAX_ARGUMENT_BYTES) {
      throw new RpcError(ErrorCode.InvalidParams, `Invalid arguments for ${name}: ${bytes} bytes of arguments, at most ${MAX_ARGUMENT_BYTES} are accepted.`);
    }
    // Who may call it is decided before the arguments are looked at, as REST authenticates before validating.
    if (!permitted(tool, c.caller, serviceTools)) {
      const why = c.caller.kind === 'user'
        ? `${name} is admin-level: only the deployment's MCP token may call it.`
        : c.caller.kind === 'oauth'
          ? (tool.callers === 'service'
            ? `${name} is admin-level: only the deployment's MCP token may call it.`
            : `${name} is not available to OAuth clients: it would create a credential that outlives the grant. Use the account page or the REST API with a session.`)
          : `${name} is not enabled for the deployment's MCP token (MCP_SERVICE_TOOLS), or acts as a user and needs a user's access token.`;
      return toolError(new AppError('forbidden', why), name);
    }
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) {
      const details = parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = details[0];
      throw new RpcError(ErrorCode.InvalidParams, `Invalid arguments for ${name}: ${first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'rejected'}`, { details });
    }
    try {
      // The output schema is an allow-list, as REST response schemas are: unknown fields never leave.
      const structured = tool.output.parse(await tool.run(c, parsed.data)) as Record<string, unknown>;
      return { result: { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured }, outcome: { outcome: 'success' } };
    } catch (err) {
      return toolError(err, name);
    }
  }

  /** Writes the one audit row of a call. */
  async function record(c: ToolContext, name: string | null, args: unknown, o: Outcome, started: number): Promise<void> {
    const text = args === undefined ? '' : JSON.stringify(args) ?? '';
    const bytes = Buffer.byteLength(text);
    const p = c.caller.principal;
    await audit.record({
      tenantId: c.tenant.id, actor: actorOf(p), action: 'mcp.tool_call', target: name?.slice(0, 100) ?? null, outcome: o.outcome, ...c.ctx,
      metadata: {
        tool: name?.slice(0, 100) ?? null,
        // Stored through audit.record, which redacts secret-named keys and secret-shaped values at any depth.
        arguments: args === undefined ? {} : bytes > MAX_AUDITED_ARGUMENT_BYTES ? { omitted: 'too large', bytes } : args,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...(o.error ? { error: o.error } : {}),
        ...(c.caller.kind === 'user' ? { sessionId: c.caller.principal.sessionId } : {}),
        ...(c.caller.kind === 'oauth' ? { via: 'oauth', clientId: c.caller.grant.clientId.slice(0, 200), scope: [...c.caller.grant.scopes].join(' ').slice(0, 200) } : {}),
      },
    });
  }

  return {
    /** The tools this caller may call, as tools/list shows them. */
    list(caller: McpCaller): Tool[] {
      return tools.filter((t) => permitted(t, caller, serviceTools)).map((t) => listed.get(t.name)!);
    },

    /** One tools/call. Throws RpcError (a JSON-RPC error) for protocol problems, after auditing them. */
    async call(c: ToolContext, params: unknown): Promise<CallToolResult> {
      const started = performance.now();
      const p = isObject(params) ? params : {};
      const name = typeof p.name === 'string' ? p.name : null;
      let outcome: Outcome = { outcome: 'failure', error: 'invalid_params' };
      try {
        const r = await execute(c, name, p.arguments);
        outcome = r.outcome;
        return r.result;
      } finally {
        await record(c, name, p.arguments, outcome, started);
      }
    },

    /** A tools/call the protocol layer refuses before any tool is looked at: audited all the same. */
    async refused(c: ToolContext, params: unknown): Promise<void> {
      const p = isObject(params) ? params : {};
      await record(c, typeof p.name === 'string' ? p.name : null, p.arguments, { outcome: 'failure', error: 'invalid_params' }, performance.now());
    },

    /**
     * For an OAuth caller, the scope a tools/call needs and its token lacks (then the call is refused with
     * HTTP 403 insufficient_scope before it runs, and audited here as denied), else null.
     */
    async scopeRefusal(c: ToolContext, params: unknown): Promise<string | null> {
      if (c.caller.kind !== 'oauth') return null;
      const p = isObject(params) ? params : {};
      const tool = typeof p.name === 'string' ? byName.get(p.name) : undefined;
      const needed = tool ? missingScope(tool, c.caller) : null;
      if (needed === null) return null;
      await record(c, tool!.name, p.arguments, { outcome: 'denied', error: 'insufficient_scope' }, performance.now());
      return needed;
    },
  };
}

export type ToolRunner = ReturnType<typeof createToolRunner>;
