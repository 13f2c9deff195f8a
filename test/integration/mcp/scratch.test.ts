import { afterAll, beforeAll, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { call, createTestApp, type TestApp } from '../../helpers/app.js';
import { register } from '../../helpers/identity.js';

let t: TestApp; let base: string;
beforeAll(async () => {
  t = await createTestApp({ env: { MCP_TOKEN: 'x'.repeat(40) } });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const a = t.app.server.address() as { port: number };
  base = `http://127.0.0.1:${a.port}`;
});
afterAll(async () => { await t?.close(); });

it('scratch', async () => {
  const u = await register(t.app);
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${u.accessToken}` } } }));
  const tools = await client.listTools();
  console.log(JSON.stringify(tools.tools.map(x => x.name)));
  console.log(JSON.stringify(await client.callTool({ name: 'whoami', arguments: {} })));
  console.log(JSON.stringify(await client.callTool({ name: 'list_sessions', arguments: {} })));
  console.log(JSON.stringify(await client.callTool({ name: 'create_api_key', arguments: { name: 'a', scopes: ['*'] } })).slice(0, 300));
  try { await client.callTool({ name: 'nope', arguments: {} }); } catch (e) { console.log('ERR', String(e)); }
  try { await client.callTool({ name: 'revoke_session', arguments: { id: 5 } as any }); } catch (e) { console.log('ERR', String(e)); }
  const r = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  console.log(r.status, [...r.headers.entries()], await r.text());
  const r2 = await fetch(`${base}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${u.accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{oops' });
  console.log(r2.status, [...r2.headers.entries()], await r2.text());
  const r3 = await fetch(`${base}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${u.accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]' });
  console.log(r3.status, await r3.text());
  const r4 = await fetch(`${base}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${u.accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"foo/bar"}' });
  console.log(r4.status, await r4.text());
  const r5 = await fetch(`${base}/mcp`, { method: 'GET', headers: { authorization: `Bearer ${u.accessToken}` } });
  console.log(r5.status, [...r5.headers.entries()], await r5.text());
  const rows = (await t.deps.audit.list({ action: 'mcp.tool_call', limit: 20 })).items;
  console.log(JSON.stringify(rows.map(r => [r.target, r.outcome, r.metadata])));
  await client.close();
  expect(1).toBe(1);
});
