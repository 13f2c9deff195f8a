import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { TestApp } from '../../helpers/app.js';
import { toAuditEntry } from '../../../src/modules/admin/schemas.js';

/** A static MCP token for tests (≥ 32 bytes). */
export const MCP_TOKEN = 'mcp-test-static-token-0123456789abcdefghijklmnop';

/** Listens on 127.0.0.1:0 and returns the base URL (the SDK client needs real HTTP). */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address() as { port: number };
  return `http://127.0.0.1:${a.port}`;
}

/** An SDK client connected to `${base}/mcp` with the bearer sent through requestInit. */
export async function connect(base: string, bearer: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'authplane-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}`, ...headers } },
  });
  await client.connect(transport);
  return client;
}

/** The JSON a tool error carries in its text content: {error, message, …}. */
export function toolError(r: unknown): { error: string; message: string; challenge?: string } {
  const res = r as CallToolResult;
  if (!res.isError) throw new Error(`expected a tool error, got ${JSON.stringify(res).slice(0, 500)}`);
  const first = res.content[0];
  if (!first || first.type !== 'text') throw new Error('a tool error has a text content');
  return JSON.parse(first.text);
}

/** The structured result of a successful tool call. */
export function structured<T = any>(r: unknown): T {
  const res = r as CallToolResult;
  if (res.isError) throw new Error(`expected success, got ${JSON.stringify(res.content).slice(0, 500)}`);
  return res.structuredContent as T;
}

/** A raw POST /mcp over HTTP (for what the SDK client would never send). */
export async function rawPost(base: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

export const rpc = (method: string, params?: unknown, id: number | string = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

/** The mcp.tool_call audit entries (API shape), newest first. */
export async function toolCalls(t: TestApp) {
  return (await t.deps.audit.list({ action: 'mcp.tool_call', limit: 200 })).items.map(toAuditEntry);
}
