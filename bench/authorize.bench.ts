import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadPair, startApp, startBaseline, type BenchRow, type PairResult } from './lib.js';

const POLICIES = 100;

async function json(app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH', url: string, o: { token?: string; body?: unknown; want: number }) {
  const res = await app.inject({
    method, url, payload: o.body === undefined ? undefined : JSON.stringify(o.body),
    headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
  });
  if (res.statusCode !== o.want) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`);
  return res.json() as any;
}

/**
 * `POST /auth/authorize` for an org with 100 policies, every one of which applies to the action asked
 * (99 denies whose conditions are false, then the allow that decides), so each decision evaluates 100
 * conditions. Target: ≥ 0.5 × the bare JSON route. Measured for a member's bearer token and for a
 * resource server's API key asking about that member (subjectId + resource attributes).
 */
export default async function authorizeBench(): Promise<BenchRow[]> {
  const baseline = await startBaseline();
  const running = await startApp({ env: { RATE_LIMIT_DEFAULT: '1000000/60', RATE_LIMIT_CREDENTIAL: '1000000/60' } });
  const { app } = running;
  try {
    const register = async () => {
      const r = await json(app, 'POST', '/auth/register', { body: { email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }, want: 200 });
      await running.deps.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [r.user.id]);
      return { id: r.user.id as string, email: r.user.email as string, token: r.tokens.accessToken as string };
    };
    const owner = await register();
    const member = await register();
    const org = await json(app, 'POST', '/auth/orgs', { token: owner.token, body: { name: 'Bench' }, want: 200 });
    const inv = await json(app, 'POST', `/auth/orgs/${org.id}/invites`, { token: owner.token, body: { email: member.email, roles: ['member'] }, want: 200 });
    await json(app, 'POST', '/auth/invites/accept', { token: member.token, body: { token: inv.token }, want: 200 });
    await json(app, 'PATCH', `/auth/orgs/${org.id}/members/${member.id}`, { token: owner.token, body: { attributes: { dept: 'eng', level: 3 } }, want: 200 });
    for (let i = 0; i < POLICIES - 1; i++) {
      await json(app, 'POST', `/auth/orgs/${org.id}/policies`, { token: owner.token, want: 200, body: {
        name: `deny ${i}`, effect: 'deny', actions: ['assets:read', `other${i}:*`], resources: ['asset:*'],
        condition: { and: [{ eq: [{ var: 'subject.attributes.dept' }, `blocked-${i}`] }, { gte: [{ var: 'subject.attributes.level' }, 1] }] },
      } });
    }
    const allow = await json(app, 'POST', `/auth/orgs/${org.id}/policies`, { token: owner.token, want: 200, body: {
      name: 'engineers read assets', effect: 'allow', actions: ['assets:read'], resources: ['asset:*'],
      condition: { or: [{ eq: [{ var: 'resource.attributes.owner' }, { var: 'subject.id' }] }, { eq: [{ var: 'subject.attributes.dept' }, 'eng'] }] },
    } });
    const key = await json(app, 'POST', '/auth/api-keys', { token: owner.token, body: { name: 'resource server', scopes: ['authz:check'] }, want: 201 });

    const asMember = JSON.stringify({ action: 'assets:read', orgId: org.id, resource: { type: 'asset', id: '42' } });
    const asServer = JSON.stringify({ action: 'assets:read', orgId: org.id, subjectId: member.id, resource: { type: 'asset', id: '42', attributes: { owner: member.id } } });
    const check = async (token: string, body: string) => {
      const d = await json(app, 'POST', '/auth/authorize', { token, body: JSON.parse(body), want: 200 });
      if (!d.allowed || d.policyId !== allow.id) throw new Error(`unexpected decision: ${JSON.stringify(d)}`);
    };
    await check(member.token, asMember);
    await check(key.apiKey, asServer);

    const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const url = `${running.url}/auth/authorize`;
    // Alternating runs after a warm-up (loadPair): each ratio is the median of rounds against the bare route of the same moment.
    const bearer = await loadPair(
      { name: 'bare route', url: baseline.url },
      { name: 'POST /auth/authorize (bearer)', url, opts: { method: 'POST', headers: headers(member.token), body: asMember } },
    );
    const server = await loadPair(
      { name: 'bare route', url: baseline.url },
      { name: 'POST /auth/authorize (API key)', url, opts: { method: 'POST', headers: headers(key.apiKey), body: asServer } },
    );
    // The decision's own cost: the same member's bearer on GET /auth/user (authentication, no decision),
    // alternated with the bearer authorize.
    const userOpts = { headers: { authorization: `Bearer ${member.token}` } };
    const decision = await loadPair(
      { name: 'GET /auth/user (bearer)', url: `${running.url}/auth/user`, opts: userOpts },
      { name: 'POST /auth/authorize (bearer)', url, opts: { method: 'POST', headers: headers(member.token), body: asMember } },
    );
    const bare = bearer.a;
    const row = (name: string, p: PairResult): BenchRow => ({
      name, reqPerSec: p.b.reqPerSec, ratio: p.ratio, target: 0.5, p99Ms: p.b.p99Ms, cpuUsPerReq: p.b.cpuUsPerReq, note: `by CPU ${p.cpuRatio.toFixed(2)}`,
    });
    return [
      { name: 'bare Fastify JSON route (authorize run)', reqPerSec: bare.reqPerSec, ratio: 1, target: null, p99Ms: bare.p99Ms, cpuUsPerReq: bare.cpuUsPerReq, note: 'the ceiling' },
      row(`POST /auth/authorize, ${POLICIES} policies, bearer`, bearer),
      row(`POST /auth/authorize, ${POLICIES} policies, API key + subjectId`, server),
      { name: 'same member, bearer GET /auth/user (no decision)', reqPerSec: decision.a.reqPerSec, ratio: decision.a.reqPerSec / bare.reqPerSec, target: null,
        p99Ms: decision.a.p99Ms, cpuUsPerReq: decision.a.cpuUsPerReq,
        note: `alternated with authorize (${Math.round(decision.b.reqPerSec)} req/s, ${Math.round(decision.b.cpuUsPerReq)} µs): the decision adds ${Math.round(decision.b.cpuUsPerReq - decision.a.cpuUsPerReq)} µs CPU/req` },
    ];
  } finally {
    await running.close();
    await baseline.close();
  }
}
