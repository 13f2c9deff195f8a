import rl from './rate-limit.bench.js';
import { loadPair, startApp } from './lib.js';
import type { ModuleDef } from '../src/modules/module.js';
const mod = (await import('./rate-limit.bench.js'));
// reuse routes by importing module internals is not exported; rebuild quickly
const { z } = await import('zod');
const routes: ModuleDef = { name: 'o', plugin: async (app) => {
  const Out = z.object({ ok: z.boolean(), service: z.string() });
  const h = async () => ({ ok: true, service: 'bench' });
  app.get('/bench/l', { config: { auth: 'public', rateLimit: 'credential' } }, h);
  app.get('/bench/u', { config: { auth: 'public', rateLimit: 'none' } }, h);
}};
const app = await startApp({ env: { RATE_LIMIT_CREDENTIAL: '1000000/60' }, extraModules: [routes] });
for (const order of [['u','l'],['l','u'],['u','l'],['l','u']]) {
  const [a, b] = await loadPair({ name: order[0]!, url: `${app.url}/auth/bench/${order[0]}` }, { name: order[1]!, url: `${app.url}/auth/bench/${order[1]}` });
  console.log(order.join(','), Math.round(a.reqPerSec), Math.round(b.reqPerSec), a.cpuUsPerReq.toFixed(0), b.cpuUsPerReq.toFixed(0));
}
await app.close();
void rl; void mod;
