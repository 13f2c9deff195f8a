import { randomUUID } from 'node:crypto';
import { assertClean, load, startApp, startBaseline, type BenchRow } from './lib.js';

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
    if (reg.statusCode !== 201) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
    const apiKey = (reg.json() as { apiKey?: string }).apiKey;
    if (!apiKey) throw new Error('register returned no apiKey (issueApiKeyOnSignup should default to true)');
    const bare = await load(baseline.url);
    assertClean('bare route', bare);
    const user = await load(`${app.url}/auth/user`, { headers: { 'x-api-key': apiKey } });
    assertClean('API-key GET /auth/user', user);
    const validate = await load(`${app.url}/auth/api-key/validate`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }),
    });
    assertClean('POST /auth/api-key/validate', validate);
    return [
      { name: 'bare Fastify JSON route (API-key run)', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, note: 'the ceiling' },
      { name: 'API-key GET /auth/user', reqPerSec: user.reqPerSec, ratio: user.reqPerSec / bare.reqPerSec, target: 0.55, p99Ms: user.p99Ms },
      { name: 'POST /auth/api-key/validate', reqPerSec: validate.reqPerSec, ratio: validate.reqPerSec / bare.reqPerSec, target: 0.55, p99Ms: validate.p99Ms },
    ];
  } finally {
    await app.close();
    await baseline.close();
  }
}
