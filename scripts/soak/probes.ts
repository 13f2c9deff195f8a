import { call, type Reply } from './http.js';
import { PASSWORD } from './load.js';
import { sleep } from './stores.js';

/**
 * Revocation probes (docs/soak.md): a session signed in on one instance and read on every instance (so each
 * has it in its caches), then signed out on one instance; every instance, called directly, must refuse its
 * access token within 1 s of the sign-out's 200.
 */

export interface ProbeResult {
  label: string;
  /** per instance: ms from the sign-out's 200 to the last 200 that instance gave the token (0: none) */
  lastAcceptedMs: number[];
  /** per instance: ms until it answered 401 (null: never within the probe's patience) */
  refusedMs: (number | null)[];
  error?: string;
}

export const probes: ProbeResult[] = [];

export interface Target { index: number; url: string }

/** Calls `fn` until its answer is not 503 / a failed connection / a proxy error, for up to `ms`. */
async function untilAnswered(fn: () => Promise<Reply>, ms: number): Promise<Reply> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await fn();
    if ((r.status !== 0 && r.status < 500) || Date.now() > until) return r;
    await sleep(100);
  }
}

export interface PreparedProbe { label: string; on: Target; access: string; all: Target[] }

/** Signs the probe user in on `on` and reads the user on every instance (warming their caches). */
export async function prepareProbe(label: string, email: string, on: Target, all: Target[]): Promise<PreparedProbe> {
  const login = await untilAnswered(() => call({ base: on.url, via: on.index, op: 'probe.login', path: '/auth/login', body: { email, password: PASSWORD } }), 30_000);
  if (login.status !== 200) throw new Error(`probe sign-in on instance ${on.index} answered ${login.status}`);
  const access = login.json.tokens.accessToken as string;
  for (const t of all) {
    const r = await untilAnswered(() => call({ base: t.url, via: t.index, op: 'probe.read', path: '/auth/user', token: access }), 30_000);
    if (r.status !== 200) throw new Error(`probe read on instance ${t.index} answered ${r.status} before the sign-out`);
  }
  return { label, on, access, all };
}

/** Signs the prepared session out on its instance, then watches every instance refuse it. */
export async function finishProbe(p: PreparedProbe): Promise<ProbeResult> {
  const result: ProbeResult = { label: p.label, lastAcceptedMs: p.all.map(() => 0), refusedMs: p.all.map(() => null) };
  probes.push(result);
  const out = await untilAnswered(() => call({ base: p.on.url, via: p.on.index, op: 'probe.logout', path: '/auth/logout', body: {}, token: p.access }), 30_000);
  if (out.status !== 200) { result.error = `sign-out on instance ${p.on.index} answered ${out.status}`; return result; }
  const t = Date.now();
  await Promise.all(p.all.map(async (target, k) => {
    // Watch for 2 s (twice the bound), and on until a 401 if the instance is still catching up (503s).
    while (Date.now() - t < 15_000) {
      const r = await call({ base: target.url, via: target.index, op: 'probe.read', path: '/auth/user', token: p.access });
      const at = Date.now() - t;
      if (r.status === 200) result.lastAcceptedMs[k] = at;
      if (r.status === 401 && result.refusedMs[k] === null) result.refusedMs[k] = at;
      if (at > 2000 && result.refusedMs[k] !== null) return;
      await sleep(25);
    }
  }));
  return result;
}

/** prepare + finish in one go (a probe with nothing happening in between). */
export async function probe(label: string, email: string, on: Target, all: Target[]): Promise<void> {
  try {
    await finishProbe(await prepareProbe(label, email, on, all));
  } catch (err) {
    probes.push({ label, lastAcceptedMs: [], refusedMs: [], error: (err as Error).message });
  }
}
