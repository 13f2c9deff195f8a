import pg from 'pg';
import { call, recs, type Rec } from './http.js';
import { ledger, okCount } from './load.js';
import { probes } from './probes.js';

/**
 * The properties the soak holds the service to (docs/soak.md), each checked after the load and printed as one
 * summary line: PASS/FAIL, the property, the figures behind it.
 */

/** A fault's time window. Store faults: [start, end] with end = max(back + 10 s, every instance ready). */
export interface FaultWindow {
  kind: 'instance' | 'redis' | 'postgres';
  label: string;
  start: number;
  /** when the store process (or the killed instance) was back */
  back?: number;
  end?: number;
  /** instance faults: which instance was killed */
  backend?: number;
  /** store faults: per instance, ms from `back` until /auth/ready answered 200 (null: not within 15 s) */
  readyMs?: (number | null)[];
}

export interface Outcome { ok: boolean; line: string }

const RECOVERY_BOUND_MS = 10_000;
const REVOCATION_BOUND_MS = 1000;

const overlaps = (r: Rec, w: FaultWindow) => r.t0 <= (w.end ?? Infinity) && r.t1 >= w.start;

/** Every write the service acknowledged is there: users and orgs in Postgres, API keys in Postgres and live through the API. */
export async function checkAcknowledgedWrites(databaseUrl: string, base: string): Promise<Outcome> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const missing: string[] = [];
  try {
    const emails = [...ledger.users.keys()];
    const { rows: users } = await c.query<{ email: string }>('SELECT email FROM users WHERE email = ANY($1) AND deleted_at IS NULL', [emails]);
    const found = new Set(users.map((u) => u.email));
    for (const e of emails) if (!found.has(e)) missing.push(`user ${e}`);
    const orgIds = [...ledger.orgs.keys()];
    const { rows: orgs } = await c.query<{ id: string; name: string }>('SELECT id, name FROM orgs WHERE id = ANY($1)', [orgIds]);
    const names = new Map(orgs.map((o) => [o.id, o.name]));
    for (const [id, want] of ledger.orgs) {
      const name = names.get(id);
      if (name === undefined) missing.push(`org ${id}`);
      else if (name !== want.acked && !want.unknown.has(name)) missing.push(`org ${id} is named "${name}", acknowledged "${want.acked}"`);
    }
    const keyIds = ledger.apiKeys.flatMap((k) => (k.id ? [k.id] : []));
    const { rows: keys } = await c.query<{ id: string }>('SELECT id FROM api_keys WHERE id = ANY($1) AND revoked_at IS NULL', [keyIds]);
    const live = new Set(keys.map((k) => k.id));
    for (const id of keyIds) if (!live.has(id)) missing.push(`API key ${id}`);
  } finally {
    await c.end();
  }
  // And through the API: every acknowledged key validates (on whichever instance the proxy picks).
  let invalid = 0;
  const queue = [...ledger.apiKeys];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let k = queue.shift(); k; k = queue.shift()) {
      const r = await call({ base, via: 'proxy', op: 'check.validate', path: '/auth/api-key/validate', body: { apiKey: k.key }, record: false });
      if (!(r.status === 200 && r.json.valid === true)) { invalid++; if (invalid <= 3) missing.push(`API key ${k.key.slice(0, 11)}… validates ${r.status} ${JSON.stringify(r.json)}`); }
    }
  }));
  const during = ledger.keysInvalidDuringRun.length;
  if (during) missing.push(`${during} acknowledged keys were called invalid during the run`);
  const renames = okCount.get('org.rename') ?? 0;
  return {
    ok: missing.length === 0,
    line: `acknowledged writes present: ${ledger.users.size} sign-ups, ${ledger.apiKeys.length} API keys (${invalid} not valid), ` +
      `${ledger.orgs.size} orgs with ${renames} renames` + (missing.length ? `; MISSING: ${missing.slice(0, 5).join('; ')}${missing.length > 5 ? ` (+${missing.length - 5})` : ''}` : ''),
  };
}

/** Each refresh token a 200 rotated is refused when presented again; concurrent pairs never both won. */
export async function checkRefreshOnce(base: string): Promise<Outcome> {
  let worked = 0;
  const statuses = new Map<number, number>();
  const queue = [...ledger.usedRefreshTokens];
  await Promise.all(Array.from({ length: 6 }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      let r = await call({ base, via: 'proxy', op: 'check.replay', path: '/auth/refresh', body: { refreshToken: t }, record: false });
      for (let i = 0; i < 20 && (r.status === 0 || r.status >= 500); i++) {
        await new Promise((res) => setTimeout(res, 200));
        r = await call({ base, via: 'proxy', op: 'check.replay', path: '/auth/refresh', body: { refreshToken: t }, record: false });
      }
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200 || r.status === 0 || r.status >= 500) worked++;
    }
  }));
  const ok = worked === 0 && ledger.concurrentDoubleWins === 0 && ledger.usedRefreshTokens.length > 0;
  const seen = [...statuses].map(([s, n]) => `${n}×${s}`).join(', ');
  return {
    ok,
    line: `no refresh token works twice: ${ledger.usedRefreshTokens.length} rotated tokens replayed (${seen}); ` +
      `${ledger.concurrentRefreshes} concurrent same-token pairs, ${ledger.concurrentDoubleWins} with two winners` +
      (worked ? `; ${worked} replays NOT refused` : ''),
  };
}

/** Every revocation probe: each instance refused the signed-out token within 1 s, and none accepted it after. */
export function checkRevocation(): Outcome {
  const bad: string[] = [];
  let slowest = 0;
  for (const p of probes) {
    if (p.error) { bad.push(`${p.label}: ${p.error}`); continue; }
    p.refusedMs.forEach((ms, i) => {
      if (ms === null) bad.push(`${p.label}: instance ${i} never refused`);
      else slowest = Math.max(slowest, ms);
      if (p.lastAcceptedMs[i]! > REVOCATION_BOUND_MS) bad.push(`${p.label}: instance ${i} accepted it ${p.lastAcceptedMs[i]} ms after the sign-out`);
      if (ms !== null && ms > REVOCATION_BOUND_MS) bad.push(`${p.label}: instance ${i} refused only after ${ms} ms`);
    });
  }
  return {
    ok: bad.length === 0 && probes.length > 0,
    line: `a session signed out on one instance is refused by every instance within ${REVOCATION_BOUND_MS} ms: ${probes.length} probes ` +
      `(${probes.filter((p) => /came back/.test(p.label)).length} right after a store came back), slowest ${slowest} ms` +
      (bad.length ? `; ${bad.slice(0, 4).join('; ')}` : ''),
  };
}

/** Per phase: 5xx only as 503 while a store was down; no 5xx at all otherwise; lost connections only to a killed instance. */
export function checkServerErrors(windows: FaultWindow[]): { outcome: Outcome; table: string[] } {
  type Stats = { n: number; ok: number; c4: number; c401: number; c503: number; other5xx: number; lost: number };
  const phases = new Map<string, Stats>();
  const bad: string[] = [];
  for (const r of recs) {
    const ws = windows.filter((w) => overlaps(r, w));
    const phase = ws.length ? ws.map((w) => w.label).join(' + ') : 'nothing down';
    const s = phases.get(phase) ?? { n: 0, ok: 0, c4: 0, c401: 0, c503: 0, other5xx: 0, lost: 0 };
    phases.set(phase, s);
    s.n++;
    if (r.status >= 200 && r.status < 300) s.ok++;
    // 401s of the load itself (a probe's reads after its sign-out are meant to be 401): a session lost in a fault shows here.
    else if (r.status >= 400 && r.status < 500) { s.c4++; if (r.status === 401 && !r.op.startsWith('probe.')) s.c401++; }
    const lost = r.proxyLost || r.status === 0;
    if (lost) {
      s.lost++;
      // Cut off with the killed instance: the request was in flight to it, or its connection was.
      const killed = ws.some((w) => w.kind === 'instance' && (r.backend === undefined || r.backend === w.backend) && r.t0 <= (w.back ?? Infinity));
      if (!killed) bad.push(`${phase}: ${r.op} via ${r.via} lost (${r.detail ?? ''})`);
    } else if (r.status === 503) {
      s.c503++;
      if (!ws.some((w) => w.kind !== 'instance')) bad.push(`${phase}: ${r.op} on instance ${r.backend} → 503 ${r.detail ?? ''}`);
      // DESIGN §5: a dependency that is down answers the error shape with code `unavailable`.
      else if (!(r.detail ?? '').includes('"error":"unavailable"')) bad.push(`${phase}: ${r.op} → 503 without the unavailable error body: ${r.detail ?? ''}`);
    } else if (r.status >= 500) {
      s.other5xx++;
      bad.push(`${phase}: ${r.op} on instance ${r.backend} → ${r.status} ${r.detail ?? ''}`);
    }
  }
  const table = [...phases].map(([p, s]) =>
    `  ${p.padEnd(44)} ${String(s.n).padStart(6)} requests  ${String(s.ok).padStart(6)} 2xx  ${String(s.c4).padStart(5)} 4xx (${s.c401} 401 in the load)  ` +
    `${String(s.c503).padStart(5)} 503  ${s.other5xx} other 5xx  ${s.lost} lost with a killed instance`);
  return {
    table,
    outcome: {
      ok: bad.length === 0,
      line: `no 5xx but 503 while a store was down, none while nothing was down: ${recs.length} requests over ${phases.size} phases` +
        (bad.length ? `; ${bad.length} violations, e.g. ${bad.slice(0, 3).join(' | ')}` : ''),
    },
  };
}

/** After each store fault, every instance answered /auth/ready and served its last 503 within 10 s of the store's return. */
export function checkRecovery(windows: FaultWindow[], instances: number): Outcome {
  const parts: string[] = [];
  let ok = true;
  let any = false;
  for (const w of windows) {
    if (w.kind === 'instance') {
      const ms = w.back === undefined ? null : w.back - w.start;
      parts.push(`${w.label}: ${ms === null ? 'NOT back' : `serving again ${(ms / 1000).toFixed(1)} s after the kill`}`);
      if (ms === null) ok = false;
      continue;
    }
    any = true;
    const per = Array.from({ length: instances }, (_, i) => {
      const readyMs = w.readyMs?.[i] ?? null;
      const last503 = recs.filter((r) => r.backend === i && r.status === 503 && w.back !== undefined && r.t1 >= w.back && r.t1 <= (w.end ?? Infinity))
        .reduce((m, r) => Math.max(m, r.t1 - w.back!), 0);
      const ms = readyMs === null ? null : Math.max(readyMs, last503);
      if (ms === null || ms > RECOVERY_BOUND_MS) ok = false;
      return ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`;
    });
    parts.push(`${w.label}: ${per.join(' / ')}`);
  }
  return { ok: ok && any, line: `every instance recovered by itself within ${RECOVERY_BOUND_MS / 1000} s of the store returning: ${parts.join('; ')}` };
}

/** Guards against a green run that tested nothing: every operation succeeded at some point and every fault ran. */
export function checkExercised(ops: string[], windows: FaultWindow[], planned: string[]): Outcome {
  const missing = ops.filter((op) => !(okCount.get(op) ?? 0));
  const done = windows.filter((w) => w.end !== undefined).map((w) => w.kind);
  const notRun = planned.filter((f) => !done.includes(f as FaultWindow['kind']));
  return {
    ok: missing.length === 0 && notRun.length === 0,
    line: `the load and every fault ran: ${ops.map((op) => `${op} ${okCount.get(op) ?? 0}`).join(', ')}; faults ${windows.map((w) => w.label).join(', ')}` +
      (missing.length ? `; NO successful ${missing.join(', ')}` : '') + (notRun.length ? `; fault(s) not run: ${notRun.join(', ')}` : ''),
  };
}
