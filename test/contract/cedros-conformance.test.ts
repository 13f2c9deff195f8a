import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { mailsTo, tokenIn } from '../helpers/mail.js';
import { eventually } from '../helpers/eventually.js';
import { newWallet } from '../integration/solana/wallet.js';
import { totpAt } from '../../src/modules/mfa/totp.js';

/**
 * Cedros wire compatibility (DESIGN §8, issue 15): every operation of the Cedros Login OpenAPI (the seed
 * document in ../shared/seeds, unchanged) is driven through a successful call against the real server,
 * and its answer must have the success status the spec declares and a body that validates against the
 * declared response schema.
 *
 * The spec's response schemas declare properties but no `required`, so a plain validation would accept a
 * body nested one level too deep ({user: {...}} for UserResponse). Here every declared property is
 * required, unless the call names it as legitimately absent in that situation (e.g. AuthUser.solanaPublicKey
 * for a user without a wallet, AuthResponse.apiKey for a returning user). Extra properties are allowed.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPEC_PATH = process.env.CEDROS_OPENAPI_PATH ?? path.resolve(REPO_ROOT, '../shared/seeds/cedros-login.openapi.json');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const PASSWORD = 'correct horse battery staple';

// ajv-formats is CommonJS with a default export; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv) => Ajv;

type Json = Record<string, any>;
interface Spec { servers?: { url: string }[]; paths: Record<string, Record<string, Json>>; components: { schemas: Record<string, Json> } }

let spec: Spec;
let basePath: string;
let t: TestApp;
const covered = new Set<string>();
const validators = new Map<string, ValidateFunction>();

/** Every declared property required (nested inline objects too), except the `absent` ones ("Schema.prop"). */
function strictify(schema: Json, name: string, absent: Set<string>): void {
  if (schema.type === 'object' && schema.properties) {
    const props = Object.keys(schema.properties);
    schema.required = [...new Set([...(schema.required ?? []), ...props.filter((p) => !absent.has(`${name}.${p}`))])];
    for (const p of props) strictify(schema.properties[p], `${name}.${p}`, absent);
  }
  for (const k of ['oneOf', 'anyOf', 'allOf'] as const) (schema[k] as Json[] | undefined)?.forEach((s, i) => strictify(s, `${name}.${k}${i}`, absent));
  if (schema.items) strictify(schema.items, `${name}[]`, absent);
}

/** A validator for one response schema under one set of allowed absences (cached). */
function validatorFor(key: string, schema: Json, absent: string[]): ValidateFunction {
  const id = `${key}|${[...absent].sort().join(',')}`;
  let v = validators.get(id);
  if (!v) {
    const components = structuredClone(spec.components.schemas);
    const set = new Set(absent);
    for (const [n, s] of Object.entries(components)) strictify(s, n, set);
    const root = structuredClone(schema);
    strictify(root, key, set);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'cedros', components: { schemas: components } });
    // The spec's refs are local (#/components/…): point them at the registered document.
    v = ajv.compile(JSON.parse(JSON.stringify(root).replaceAll('"#/components/', '"cedros#/components/')));
    validators.set(id, v);
  }
  return v;
}

const allOperations = (): string[] => Object.entries(spec.paths).flatMap(([p, item]) =>
  METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${p}`)).sort();

interface Req { path?: string; json?: unknown; token?: string; headers?: Record<string, string>; absent?: string[] }

/**
 * Calls one Cedros operation (`specPath` as the spec writes it; `path` the concrete one) and checks the
 * declared success status and response schema. Returns the response.
 */
async function op(method: string, specPath: string, r: Req = {}) {
  const key = `${method} ${specPath}`;
  const operation = spec.paths[specPath]?.[method.toLowerCase()];
  if (!operation) throw new Error(`${key} is not an operation of the Cedros spec`);
  const statuses = Object.keys(operation.responses).filter((s) => /^2\d\d$/.test(s));
  expect(statuses, `${key}: the spec declares one success status`).toHaveLength(1);
  const status = statuses[0]!;
  const res = await call(t.app, { method: method as 'GET', url: `${basePath}${r.path ?? specPath}`, json: r.json, token: r.token, headers: r.headers });
  expect(res.statusCode, `${key} → ${res.body}`).toBe(Number(status));
  const content = operation.responses[status].content as Record<string, { schema?: Json }> | undefined;
  if (content?.['application/json']) {
    expect(res.headers['content-type'], `${key}: content type`).toMatch(/^application\/json/);
    expect(res.data, `${key}: a JSON body`).toBeDefined();
    const schema = content['application/json'].schema;
    if (schema) {
      const validate = validatorFor(key, schema, r.absent ?? []);
      const ok = validate(res.data);
      expect(ok, `${key}: body does not match the declared schema: ${JSON.stringify(validate.errors)}\nbody: ${res.body}`).toBe(true);
    }
  }
  covered.add(key);
  return res;
}

beforeAll(async () => {
  if (!existsSync(SPEC_PATH)) {
    throw new Error(`The Cedros Login OpenAPI document is missing: expected it at ${SPEC_PATH} (the shared seed, or set CEDROS_OPENAPI_PATH). This test never skips.`);
  }
  spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;
  basePath = spec.servers?.[0]?.url ?? '/auth';
  t = await createTestApp();
}, 300_000); // a fresh app (migrations on PGlite) can take minutes on a loaded 2-core machine
afterAll(async () => { await t?.close(); });

// What the calls share: the password user A, the magic-link user B, the wallet user W.
const A = { email: `conf-a-${Date.now()}@example.com`, accessToken: '', refreshToken: '', apiKey: '', userId: '' };
const B = { email: `conf-b-${Date.now()}@example.com`, accessToken: '', userId: '' };
const W = { wallet: newWallet(), accessToken: '' };
const NO_WALLET = ['AuthUser.solanaPublicKey'];

describe('the Cedros Login OpenAPI, operation by operation', () => {
  it('has 41 operations', () => {
    expect(allOperations()).toHaveLength(41);
  });

  it('discovery: GET /discovery, /openapi.json, /health', async () => {
    const d = await op('GET', '/discovery');
    expect(d.data.version).toBe('0.2.0');
    expect(d.data.basePath).toBe(basePath);
    expect(d.data.authMethods.length).toBeGreaterThan(0);
    for (const m of d.data.authMethods) expect(Object.keys(m.endpoints).length, JSON.stringify(m)).toBeGreaterThan(0);
    expect(Object.keys(d.data.links).sort()).toEqual(['docs', 'jwks', 'openapi']);
    expect(d.data.apiKeyUsage.header).toMatch(/X-API-Key/);
    const doc = await op('GET', '/openapi.json');
    expect(doc.data.paths[`${basePath}/openapi.json`]?.get, 'the served document lists itself').toBeDefined();
    await op('GET', '/health');
  });

  it('password: register, login, refresh', async () => {
    const reg = await op('POST', '/register', { json: { email: A.email, password: PASSWORD }, absent: NO_WALLET });
    expect(reg.data.isNewUser).toBe(true);
    A.apiKey = reg.data.apiKey;
    A.userId = reg.data.user.id;
    const login = await op('POST', '/login', { json: { email: A.email, password: PASSWORD }, absent: [...NO_WALLET, 'AuthResponse.apiKey'] });
    const ref = await op('POST', '/refresh', { json: { refreshToken: login.data.tokens.refreshToken }, absent: [...NO_WALLET, 'AuthResponse.apiKey'] });
    A.accessToken = ref.data.tokens.accessToken;
    A.refreshToken = ref.data.tokens.refreshToken;
  });

  it('user and API key: GET /user, /user/api-key, POST /user/api-key/regenerate, /api-key/validate', async () => {
    const v = await op('POST', '/api-key/validate', { json: { apiKey: A.apiKey } });
    expect(v.data).toMatchObject({ valid: true, userId: A.userId });
    const u = await op('GET', '/user', { token: A.accessToken, absent: ['UserResponse.solanaPublicKey'] });
    expect(u.data.id).toBe(A.userId);
    await op('GET', '/user/api-key', { token: A.accessToken, absent: ['ApiKeyResponse.lastUsedAt'] });
    const regen = await op('POST', '/user/api-key/regenerate', { token: A.accessToken });
    A.apiKey = regen.data.apiKey;
    // The key works as a credential of its own on the Cedros routes that accept one.
    await op('GET', '/user', { headers: { 'x-api-key': A.apiKey }, absent: ['UserResponse.solanaPublicKey'] });
  });

  it('instant link: POST /instant-link, /instant-link/verify (a new user)', async () => {
    const req = await op('POST', '/instant-link', { json: { email: B.email } });
    expect(req.data.message).toBeTruthy();
    expect(await eventually(async () => mailsTo(t.config.dataDir, B.email).length, 1)).toBe(1);
    const token = tokenIn(mailsTo(t.config.dataDir, B.email)[0]!.text);
    // oneOf AuthResponse | MfaRequiredResponse: a new user (with its API key) and no MFA.
    const v = await op('POST', '/instant-link/verify', { json: { token }, absent: NO_WALLET });
    expect(v.data.isNewUser).toBe(true);
    B.accessToken = v.data.tokens.accessToken;
    B.userId = v.data.user.id;
  });

  it('solana: POST /solana/challenge, /solana; the wallet user carries solanaPublicKey', async () => {
    const c = await op('POST', '/solana/challenge', { json: { publicKey: W.wallet.publicKey } });
    // A wallet-only user has no email: the one property a wallet sign-in may leave out; solanaPublicKey is required.
    const s = await op('POST', '/solana', { json: { publicKey: W.wallet.publicKey, signature: W.wallet.sign(c.data.message) }, absent: ['AuthUser.email'] });
    expect(s.data.user.solanaPublicKey).toBe(W.wallet.publicKey);
    W.accessToken = s.data.tokens.accessToken;
    const u = await op('GET', '/user', { token: W.accessToken, absent: ['UserResponse.email'] });
    expect(u.data.solanaPublicKey).toBe(W.wallet.publicKey);
  });

  it('organizations, invites, roles, policies, authorization', async () => {
    const org = await op('POST', '/orgs', { token: A.accessToken, json: { name: 'Conformance Org' } });
    const id = org.data.id as string;
    const at = (p: string) => p.replace('{org_id}', id).replace('{user_id}', B.userId);
    await op('GET', '/orgs', { token: A.accessToken });
    await op('GET', '/orgs/{org_id}', { path: at('/orgs/{org_id}'), token: A.accessToken });
    await op('PATCH', '/orgs/{org_id}', { path: at('/orgs/{org_id}'), token: A.accessToken, json: { name: 'Conformance Org 2' } });
    await op('POST', '/orgs/{org_id}/roles', { path: at('/orgs/{org_id}/roles'), token: A.accessToken, json: { name: 'viewer', permissions: ['assets:read'] } });
    await op('GET', '/orgs/{org_id}/roles', { path: at('/orgs/{org_id}/roles'), token: A.accessToken });
    await op('POST', '/orgs/{org_id}/policies', { path: at('/orgs/{org_id}/policies'), token: A.accessToken, json: { name: 'read assets', effect: 'allow', actions: ['assets:read'] } });
    await op('GET', '/orgs/{org_id}/policies', { path: at('/orgs/{org_id}/policies'), token: A.accessToken });
    const inv = await op('POST', '/orgs/{org_id}/invites', { path: at('/orgs/{org_id}/invites'), token: A.accessToken, json: { email: B.email, roles: ['member'] } });
    await op('GET', '/orgs/{org_id}/invites', { path: at('/orgs/{org_id}/invites'), token: A.accessToken });
    await op('POST', '/invites/accept', { token: B.accessToken, json: { token: inv.data.token } });
    await op('GET', '/orgs/{org_id}/members', { path: at('/orgs/{org_id}/members'), token: A.accessToken });
    await op('PATCH', '/orgs/{org_id}/members/{user_id}', { path: at('/orgs/{org_id}/members/{user_id}'), token: A.accessToken, json: { roles: ['viewer'] } });
    const allowed = await op('POST', '/authorize', { token: B.accessToken, json: { action: 'assets:read', orgId: id } });
    expect(allowed.data.allowed).toBe(true);
    await op('POST', '/permissions', { token: B.accessToken, json: { orgId: id } });
    await op('POST', '/orgs/{org_id}/switch', { path: at('/orgs/{org_id}/switch'), token: A.accessToken, absent: NO_WALLET });
    await op('DELETE', '/orgs/{org_id}/members/{user_id}', { path: at('/orgs/{org_id}/members/{user_id}'), token: A.accessToken });
    await op('DELETE', '/orgs/{org_id}', { path: at('/orgs/{org_id}'), token: A.accessToken });
  });

  it('MFA: setup, enable, status, verify, recovery, disable (the wallet user)', async () => {
    const code = (secret: string) => {
      t.clock.advance(30_000); // a code works once: every use takes the next 30-s step
      return totpAt(secret, Math.floor(t.clock.nowMs() / 1000));
    };
    const setup = await op('POST', '/mfa/setup', { token: W.accessToken });
    const en = await op('POST', '/mfa/enable', { token: W.accessToken, json: { code: code(setup.data.secret) } });
    const [r1, r2] = en.data.recoveryCodes as string[];
    const st = await op('GET', '/mfa/status', { token: W.accessToken });
    expect(st.data.enabled).toBe(true);
    const v = await op('POST', '/mfa/verify', { token: W.accessToken, json: { code: code(setup.data.secret) } });
    W.accessToken = v.data.accessToken;
    const rec = await op('POST', '/mfa/recovery', { token: W.accessToken, json: { code: r1 } });
    W.accessToken = rec.data.accessToken;
    await op('POST', '/mfa/disable', { token: W.accessToken, json: { code: r2 } });
  });

  it('sessions: GET /sessions, DELETE /sessions, POST /logout', async () => {
    await op('GET', '/sessions', { token: A.accessToken });
    const all = await op('DELETE', '/sessions', { token: W.accessToken });
    expect(all.data.revoked).toBeGreaterThan(0);
    await op('POST', '/logout', { token: A.accessToken });
    expect((await call(t.app, { method: 'GET', url: `${basePath}/user`, token: A.accessToken })).statusCode).toBe(401);
  });

  it('covered exactly the 41 operations of the spec', () => {
    expect([...covered].sort()).toEqual(allOperations());
  });
});
