import { randomBytes } from 'node:crypto';
import { call, type Reply } from './http.js';
import { sleep } from './stores.js';

/**
 * The steady mixed load (docs/soak.md): virtual users, each one sequence of requests through the proxy
 * with a short pause between them, and the ledger of everything the service acknowledged, which the checks
 * hold it to afterwards.
 */

export const PASSWORD = 'soak correct horse battery staple';

/** What the service acknowledged (or might have applied) during the run. */
export const ledger = {
  /** email → user id, from 200 answers to POST /auth/register */
  users: new Map<string, string>(),
  /** 201 answers to POST /auth/api-keys (and keys issued on sign-up) */
  apiKeys: [] as { id?: string; key: string }[],
  /** org id → the name last acknowledged, and names sent since whose outcome is unknown (5xx, lost connection) */
  orgs: new Map<string, { acked: string; unknown: Set<string> }>(),
  /** refresh tokens that a 200 answer rotated: none of them may work again */
  usedRefreshTokens: [] as string[],
  /** the same refresh token sent twice at once, through the proxy (so usually to two instances) */
  concurrentRefreshes: 0,
  /** of those, pairs where both were answered 200 */
  concurrentDoubleWins: 0,
  /** acknowledged keys that /api-key/validate called not valid during the run */
  keysInvalidDuringRun: [] as string[],
};

/** Successful answers per operation, to show the load exercised every one of them. */
export const okCount = new Map<string, number>();
const ok = (op: string) => okCount.set(op, (okCount.get(op) ?? 0) + 1);

interface Vu {
  id: number;
  email: string;
  access?: string;
  refresh?: string;
  keys: string[];
  orgs: string[];
}

const WEIGHTS: [string, number][] = [
  ['user', 28], ['refresh', 14], ['validate', 14], ['authorize', 12], ['org.rename', 9], ['org.create', 4],
  ['apikey.create', 5], ['login', 4], ['register', 4], ['logout', 2],
];
const TOTAL = WEIGHTS.reduce((n, [, w]) => n + w, 0);
function pick(): string {
  let r = Math.random() * TOTAL;
  for (const [op, w] of WEIGHTS) if ((r -= w) < 0) return op;
  return 'user';
}

const unknownOutcome = (r: Reply) => r.status === 0 || r.status >= 500;

/** Runs `count` virtual users against `base` until `stop()` says so; resolves when all have finished their last request. */
export async function runLoad(base: string, o: { count: number; thinkMs: number; stop: () => boolean }): Promise<void> {
  const req = (vu: Vu, op: string, path: string, body?: unknown, method?: string, token = vu.access) =>
    call({ base, via: 'proxy', op, path, body, method, token, vu: vu.id });

  async function register(vu: Vu): Promise<void> {
    const email = `soak-${randomBytes(6).toString('hex')}@example.com`;
    const r = await req(vu, 'register', '/auth/register', { email, password: PASSWORD, name: 'Soak' }, 'POST', undefined);
    if (r.status !== 200) return;
    ok('register');
    ledger.users.set(email, r.json.user.id);
    if (typeof r.json.apiKey === 'string') { ledger.apiKeys.push({ key: r.json.apiKey }); vu.keys = [r.json.apiKey]; } else vu.keys = [];
    Object.assign(vu, { email, access: r.json.tokens.accessToken, refresh: r.json.tokens.refreshToken, orgs: [] });
  }

  async function login(vu: Vu): Promise<void> {
    const r = await req(vu, 'login', '/auth/login', { email: vu.email, password: PASSWORD }, 'POST', undefined);
    if (r.status !== 200) return;
    ok('login');
    vu.access = r.json.tokens.accessToken;
    vu.refresh = r.json.tokens.refreshToken;
  }

  async function refresh(vu: Vu): Promise<void> {
    const token = vu.refresh!;
    // One refresh in ten sends the same token twice at once: exactly one may win (DESIGN §3).
    const twice = Math.random() < 0.1;
    const rs = await Promise.all((twice ? [0, 1] : [0]).map(() => req(vu, 'refresh', '/auth/refresh', { refreshToken: token }, 'POST', undefined)));
    const wins = rs.filter((r) => r.status === 200);
    if (twice) { ledger.concurrentRefreshes++; if (wins.length > 1) ledger.concurrentDoubleWins++; }
    if (wins.length > 0) {
      ok('refresh');
      ledger.usedRefreshTokens.push(token);
      vu.access = wins[0]!.json.tokens.accessToken;
      vu.refresh = wins[0]!.json.tokens.refreshToken;
    } else if (rs.some((r) => r.status === 401)) {
      vu.access = vu.refresh = undefined;
    }
  }

  async function step(vu: Vu, op: string): Promise<void> {
    switch (op) {
      case 'register': return register(vu);
      case 'login': return login(vu);
      case 'refresh': return refresh(vu);
      case 'logout': {
        const r = await req(vu, 'logout', '/auth/logout', {}, 'POST');
        if (r.status === 200) { ok('logout'); vu.access = vu.refresh = undefined; }
        return;
      }
      case 'user': {
        const r = await req(vu, 'user', '/auth/user');
        if (r.status === 200) ok('user');
        else if (r.status === 401) vu.access = undefined;
        return;
      }
      case 'validate': {
        const key = vu.keys[Math.floor(Math.random() * vu.keys.length)];
        if (!key) return step(vu, 'apikey.create');
        const r = await req(vu, 'validate', '/auth/api-key/validate', { apiKey: key }, 'POST', undefined);
        if (r.status === 200 && r.json.valid === true) ok('validate');
        else if (r.status === 200) ledger.keysInvalidDuringRun.push(key.slice(0, 11));
        return;
      }
      case 'apikey.create': {
        const r = await req(vu, 'apikey.create', '/auth/api-keys', { name: `soak ${vu.id}`, scopes: ['*'] });
        if (r.status === 201) { ok('apikey.create'); ledger.apiKeys.push({ id: r.json.id, key: r.json.apiKey }); vu.keys.push(r.json.apiKey); }
        return;
      }
      case 'org.create': {
        const name = `soak org ${randomBytes(4).toString('hex')}`;
        const r = await req(vu, 'org.create', '/auth/orgs', { name });
        if (r.status === 200) { ok('org.create'); ledger.orgs.set(r.json.id, { acked: name, unknown: new Set() }); vu.orgs.push(r.json.id); }
        return;
      }
      case 'org.rename': {
        const id = vu.orgs[Math.floor(Math.random() * vu.orgs.length)];
        if (!id) return step(vu, 'org.create');
        const name = `soak org ${randomBytes(4).toString('hex')}`;
        const r = await req(vu, 'org.rename', `/auth/orgs/${id}`, { name }, 'PATCH');
        const entry = ledger.orgs.get(id)!;
        if (r.status === 200) { ok('org.rename'); entry.acked = name; entry.unknown.clear(); } else if (unknownOutcome(r)) entry.unknown.add(name);
        else if (r.status === 401) vu.access = undefined;
        return;
      }
      case 'authorize': {
        const orgId = vu.orgs[0];
        if (!orgId) return step(vu, 'org.create');
        const r = await req(vu, 'authorize', '/auth/authorize', { action: 'members:read', orgId });
        if (r.status === 200 && r.json.allowed === true) ok('authorize');
        return;
      }
    }
  }

  const vus: Vu[] = Array.from({ length: o.count }, (_, i) => ({ id: i + 1, email: '', keys: [], orgs: [] }));
  await Promise.all(vus.map(async (vu, i) => {
    await sleep(i * 150); // spread the first sign-ups (argon2)
    while (!o.stop()) {
      if (!vu.email) await register(vu);
      else if (!vu.access || !vu.refresh) await login(vu);
      else await step(vu, pick());
      await sleep(o.thinkMs * (0.5 + Math.random()));
    }
  }));
}
