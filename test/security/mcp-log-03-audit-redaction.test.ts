import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { register, type SignedIn } from '../helpers/identity.js';
import { connect, listen, MCP_TOKEN, structured, toolError } from '../integration/mcp/mcp-helpers.js';

/**
 * LOG-03 for MCP: every tools/call is audited with its arguments, and secrets in them are redacted by the
 * shared redaction (DESIGN §5) at any depth — under secret-named keys the seed's regex misses (code,
 * recoveryCode, authorization, otp, pin, cookie, signature, nonce, credential, challenge) and as
 * secret-shaped values under harmless keys (ck_…, ak_…, ch_…, JWTs, Bearer …) — whether the call succeeds,
 * fails as a tool or is refused as a protocol error. Asserted on the stored rows and on the logs.
 */
let t: TestApp;
let base: string;
let u: SignedIn;
let client: Client;

const P = {
  password: 'Planted-Password-7f3a',
  apiKey: 'planted-api-key-9c1d',
  refresh: 'planted-refresh-token-4e2b',
  code: '482915',
  recovery: 'planted-recovery-code-aa11',
  bearer: 'planted-bearer-value-77',
  ck: `ck_${'P'.repeat(43)}`,
  ak: `ak_${'Q'.repeat(43)}`,
  ch: `ch_${'R'.repeat(43)}`,
  otp: 'planted-otp-5521',
  pin: 'planted-pin-3141',
  cookie: 'planted-cookie-2718',
  signature: 'planted-signature-1618',
  nonce: 'planted-nonce-1414',
  credential: 'planted-credential-1732',
  secret: 'planted-client-secret-9981',
  passphrase: 'planted-passphrase-2236',
};

/** The example shape, nested inside arrays, plus every other secret-looking name and shape. */
function plantedArguments(accessToken: string) {
  return {
    filter: [
      { Password: P.password, nested: [{ API_KEY: P.apiKey }] },
      [[{ refresh_token: P.refresh }]],
    ],
    deep: { a: [{ b: { code: P.code, recoveryCode: P.recovery, totpChallenge: P.ch } }] },
    headers: [{ authorization: `Bearer ${P.bearer}` }, { Cookie: P.cookie }],
    note: `please use ${P.ck} for this`,
    more: [`admin ${P.ak}`, `jwt=${accessToken}`, `challenge ${P.ch}`],
    misc: { otp: P.otp, pin: P.pin, signature: P.signature, nonce: P.nonce, credential: P.credential, clientSecret: P.secret, passphrase: P.passphrase },
    harmless: { limit: 5, label: 'visible-label' },
  };
}

beforeAll(async () => {
  t = await createTestApp({ env: { MCP_TOKEN } });
  base = await listen(t.app);
  u = await register(t.app);
  client = await connect(base, u.accessToken);
});
afterAll(async () => {
  await client?.close().catch(() => {});
  await t?.close();
});

/** Every stored mcp.tool_call row as the JSON text of the whole row, read as the database owner. */
async function storedRows(): Promise<string[]> {
  const r = await t.stores.sql.ownerQuery<{ j: string }>(`SELECT row_to_json(a)::text AS j FROM audit_events a WHERE action = 'mcp.tool_call' ORDER BY seq`);
  return r.rows.map((x) => x.j);
}

const secrets = () => [...Object.values(P), u.accessToken, u.refreshToken, u.body.apiKey as string, MCP_TOKEN];

describe(`LOG-03: MCP tool-call arguments are redacted at any depth in the stored audit rows (${BACKEND})`, () => {
  it('a protocol error (-32602), a tool error and a success each store a redacted row, and no planted value', async () => {
    const args = plantedArguments(u.accessToken);
    // 1. arguments the tool does not take: a JSON-RPC error, audited all the same
    await expect(client.callTool({ name: 'whoami', arguments: args })).rejects.toThrow(/Invalid arguments/);
    // 2. a tool error: resource attributes from a user token are refused (validation_failed)
    const refused = await client.callTool({ name: 'check_permission', arguments: { action: 'assets:read', resource: { type: 'asset', attributes: { payload: args } } } });
    expect(toolError(refused).error).toBe('validation_failed');
    // 3. a success whose harmless-looking argument carries a key-shaped value
    const created = structured(await client.callTool({ name: 'create_api_key', arguments: { name: `copy of ${P.ck}`, scopes: ['*'] } }));
    // 4. the service token, with planted arguments to a tool it may call
    const svc = await connect(base, MCP_TOKEN);
    await expect(svc.callTool({ name: 'get_audit_events', arguments: args })).rejects.toThrow(/Invalid arguments/);
    await svc.close();

    const rows = await storedRows();
    expect(rows.length).toBe(4);
    for (const row of rows) {
      for (const s of [...secrets(), created.apiKey]) expect(row, `a stored row contains ${s.slice(0, 12)}…`).not.toContain(s);
    }
    // The rows are there and say what happened; harmless arguments stay readable.
    const parsed = rows.map((r) => JSON.parse(r));
    expect(parsed.map((r) => [r.target, r.outcome])).toEqual([
      ['whoami', 'failure'], ['check_permission', 'failure'], ['create_api_key', 'success'], ['get_audit_events', 'failure'],
    ]);
    const first = parsed[0].metadata.arguments;
    expect(first.harmless).toEqual({ limit: 5, label: 'visible-label' });
    expect(first.filter[0].Password).toBe('[REDACTED]');
    expect(first.filter[0].nested[0].API_KEY).toBe('[REDACTED]');
    expect(first.filter[1][0][0].refresh_token).toBe('[REDACTED]');
    expect(first.deep.a[0].b).toEqual({ code: '[REDACTED]', recoveryCode: '[REDACTED]', totpChallenge: '[REDACTED]' });
    expect(first.headers).toEqual([{ authorization: '[REDACTED]' }, { Cookie: '[REDACTED]' }]);
    expect(first.note).toBe('please use [REDACTED] for this');
    expect(Object.values(first.misc)).toEqual(Array(7).fill('[REDACTED]'));
    expect(parsed[2].metadata.arguments.name).toBe('copy of [REDACTED]');
    expect(parsed[3].actor_type).toBe('mcp_service');
  });

  it('a totpChallenge argument is never stored, whether the call passes or not', async () => {
    await client.callTool({ name: 'revoke_api_key', arguments: { id: '00000000-0000-4000-8000-000000000000', totpChallenge: P.ch } });
    const last = JSON.parse((await storedRows()).at(-1)!);
    expect(last.metadata.arguments).toEqual({ id: '00000000-0000-4000-8000-000000000000', totpChallenge: '[REDACTED]' });
  });

  it('no planted value, bearer or MCP token reaches the logs', async () => {
    const logs = t.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const s of secrets()) expect(logs, `the logs contain ${s.slice(0, 12)}…`).not.toContain(s);
  });
});
