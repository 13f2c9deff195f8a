// The load side of bench/hash-pool.bench.ts, run in a child process so that neither the flood nor the
// real users' clock shares the server's event loop. One JSON argument; prints one JSON line.
//
//   {"mode":"flood", "url", "connections", "durationS", "addresses", "password"}
//     unknown-email logins (a fresh email each), every request from one of `addresses` client addresses
//     (X-Forwarded-For, 198.18.0.0/15: the benchmarking range), as many as `connections` allow.
//     → {"total", "reqPerSec", "statuses": {"401": n, "503": n, …}}
//   {"mode":"users", "url", "durationS", "ratePerSec", "users": [{"email", "password", "ip"}]}
//     real users signing in with the right password, open loop at a fixed rate (one login starts every
//     1/ratePerSec s whatever the previous one is doing), round robin over the users, each from its own
//     address. → {"latenciesMs": [...], "statuses": {...}}
import http from 'node:http';
import { createRequire } from 'node:module';

const cfg = JSON.parse(process.argv[2]);

if (cfg.mode === 'flood') {
  const autocannon = createRequire(import.meta.url)('autocannon');
  let n = 0;
  const address = (i) => `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
  const result = await autocannon({
    url: cfg.url,
    connections: cfg.connections,
    duration: cfg.durationS,
    requests: [{
      method: 'POST',
      setupRequest: (req) => {
        n += 1;
        return {
          ...req,
          headers: { 'content-type': 'application/json', 'x-forwarded-for': address(n % cfg.addresses) },
          body: JSON.stringify({ email: `flood-${process.pid}-${n}@example.com`, password: cfg.password }),
        };
      },
    }],
  });
  const statuses = {};
  for (const [k, v] of Object.entries(result.statusCodeStats ?? {})) statuses[k] = v.count;
  process.stdout.write(`${JSON.stringify({ total: result.requests.total, reqPerSec: result.requests.average, errors: result.errors, statuses })}\n`);
} else if (cfg.mode === 'users') {
  const agent = new http.Agent({ keepAlive: true });
  const statuses = {};
  const latenciesMs = [];
  const one = (user) => new Promise((resolve) => {
    const body = JSON.stringify({ email: user.email, password: user.password });
    const started = performance.now();
    const req = http.request(cfg.url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-forwarded-for': user.ip },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        latenciesMs.push(performance.now() - started);
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        resolve();
      });
    });
    req.on('error', () => { statuses.error = (statuses.error ?? 0) + 1; resolve(); });
    req.end(body);
  });
  const pending = [];
  const count = Math.round(cfg.durationS * cfg.ratePerSec);
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1) {
    const due = t0 + (i * 1000) / cfg.ratePerSec;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(cfg.users[i % cfg.users.length]));
  }
  await Promise.all(pending);
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ latenciesMs, statuses })}\n`);
} else {
  throw new Error(`unknown mode ${cfg.mode}`);
}
