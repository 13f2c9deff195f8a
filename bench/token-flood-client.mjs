// The load side of bench/memory-start.bench.ts, in a child process: sends GET /auth/user once with each
// bearer token of a file (one per line), over `connections` keep-alive connections. One JSON argument
// {"url", "file", "connections"}; prints one JSON line {"total", "reqPerSec", "statuses": {…}}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const cfg = JSON.parse(process.argv[2]);
const tokens = readFileSync(cfg.file, 'utf8').split('\n').filter(Boolean);
const autocannon = createRequire(import.meta.url)('autocannon');
let n = 0;
const result = await autocannon({
  url: cfg.url,
  connections: cfg.connections,
  amount: tokens.length,
  requests: [{
    method: 'GET',
    setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[n++ % tokens.length]}` } }),
  }],
});
const statuses = {};
for (const [k, v] of Object.entries(result.statusCodeStats ?? {})) statuses[k] = v.count;
process.stdout.write(`${JSON.stringify({ total: result.requests.total, reqPerSec: result.requests.average, errors: result.errors, statuses })}\n`);
