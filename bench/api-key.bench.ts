import { randomUUID } from 'node:crypto';
import { loadPair, startApp, startBaseline, type BenchRow } from './lib.js';

/**
 * API-key `GET /auth/user` (X-API-Key) and `POST /auth/api-key/validate` with a fresh user's default key.
 * Target for both: ≥ 0.55 × the bare JSON route (PERFORMANCE.md). Validated keys are served from the
 * per-instance cache (≤ 5 s), so the hot path is one SHA-256 and no database round trip.
 */
export default async function apiKeyBench(): Promise<BenchRow[]> {
  const baseline = await startBaseline();
  // One client address sends everything: the limits are raised so nothing is refused.
  const app = await startApp({ env: { RATE_LIMIT_DEFAULT: '1000000/60', RATE_LIMIT_CREDENTIAL: '1000000/60' } });
  try {
    const reg = await app.app.inject({
      method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
    });
    if (reg.statusCode !== 200) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
    const apiKey = (reg.json() as { apiKey?: string }).apiKey;
    if (!apiKey) throw new Error('register returned no apiKey (issueApiKeyOnSignup should default to true)');
    const user = await loadPair(
      { name: 'bare route', url: baseline.url },
      { name: 'API-key GET /auth/user', url: `${app.url}/auth/user`, opts: { headers: { 'x-api-key': apiKey } } },
    );
    const validate = await loadPair(
      { name: 'bare route', url: baseline.url },
      { name: 'POST /auth/api-key/validate', url: `${app.url}/auth/api-key/validate`, opts: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }) } },
    );
    const bare = user.a;
    return [
      { name: 'bare Fastify JSON route (API-key run)', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, cpuUsPerReq: bare.cpuUsPerReq, note: 'the ceiling' },
      { name: 'API-key GET /auth/user', reqPerSec: user.b.reqPerSec, ratio: user.ratio, target: 0.55, p99Ms: user.b.p99Ms, cpuUsPerReq: user.b.cpuUsPerReq, note: `by CPU ${user.cpuRatio.toFixed(2)}` },
      { name: 'POST /auth/api-key/validate', reqPerSec: validate.b.reqPerSec, ratio: validate.ratio, target: 0.55, p99Ms: validate.b.p99Ms, cpuUsPerReq: validate.b.cpuUsPerReq, note: `by CPU ${validate.cpuRatio.toFixed(2)}` },
    ];
  } finally {
    await app.close();
    await baseline.close();
  }
}
