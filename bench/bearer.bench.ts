import { randomUUID } from 'node:crypto';
import { loadPair, startApp, startBaseline, type BenchRow } from './lib.js';

/** Bearer `GET /auth/user` with a fresh user's access token. Target: ≥ 0.55 × the bare JSON route. */
export default async function bearerBench(): Promise<BenchRow[]> {
  const baseline = await startBaseline();
  // One client address sends everything: the default class limit is raised so nothing is refused.
  const app = await startApp({ env: { RATE_LIMIT_DEFAULT: '1000000/60' } });
  try {
    const reg = await app.app.inject({
      method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }),
    });
    if (reg.statusCode !== 200) throw new Error(`register answered ${reg.statusCode}: ${reg.body}`);
    const token = (reg.json() as { tokens: { accessToken: string } }).tokens.accessToken;
    const user = await loadPair(
      { name: 'bare route', url: baseline.url },
      { name: 'GET /auth/user', url: `${app.url}/auth/user`, opts: { headers: { authorization: `Bearer ${token}` } } },
    );
    const bare = user.a;
    return [
      { name: 'bare Fastify JSON route (bearer run)', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, cpuUsPerReq: bare.cpuUsPerReq, note: 'the ceiling' },
      { name: 'bearer GET /auth/user', reqPerSec: user.b.reqPerSec, ratio: user.ratio, target: 0.55, p99Ms: user.b.p99Ms, cpuUsPerReq: user.b.cpuUsPerReq, note: `by CPU ${user.cpuRatio.toFixed(2)}` },
    ];
  } finally {
    await app.close();
    await baseline.close();
  }
}
