import { randomUUID } from 'node:crypto';
import { startApp, load } from './bench/lib.js';
const running = await startApp({ env: { RATE_LIMIT_DEFAULT: '1000000/60', RATE_LIMIT_CREDENTIAL: '1000000/60' } });
const app = running.app;
const json = async (method: any, url: string, o: { token?: string; body?: unknown; want: number }) => {
  const res = await app.inject({ method, url, payload: o.body === undefined ? undefined : JSON.stringify(o.body), headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) } });
  if (res.statusCode !== o.want) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`);
  return res.json() as any;
};
const register = async () => {
  const r = await json('POST', '/auth/register', { body: { email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery staple' }, want: 201 });
  await running.deps.sql.ownerQuery('UPDATE users SET email_verified = true WHERE id = $1', [r.user.id]);
  return { id: r.user.id as string, email: r.user.email as string, token: r.tokens.accessToken as string };
};
const owner = await register();
const member = await register();
const org = await json('POST', '/auth/orgs', { token: owner.token, body: { name: 'Bench' }, want: 201 });
const inv = await json('POST', `/auth/orgs/${org.id}/invites`, { token: owner.token, body: { email: member.email, roles: ['member'] }, want: 201 });
await json('POST', '/auth/invites/accept', { token: member.token, body: { token: inv.token }, want: 200 });
await json('PATCH', `/auth/orgs/${org.id}/members/${member.id}`, { token: owner.token, body: { attributes: { dept: 'eng', level: 3 } }, want: 200 });
for (let i = 0; i < 99; i++) await json('POST', `/auth/orgs/${org.id}/policies`, { token: owner.token, want: 201, body: { name: `deny ${i}`, effect: 'deny', actions: ['assets:read', `other${i}:*`], resources: ['asset:*'], condition: { and: [{ eq: [{ var: 'subject.attributes.dept' }, `blocked-${i}`] }, { gte: [{ var: 'subject.attributes.level' }, 1] }] } } });
await json('POST', `/auth/orgs/${org.id}/policies`, { token: owner.token, want: 201, body: { name: 'engineers read assets', effect: 'allow', actions: ['assets:read'], resources: ['asset:*'], condition: { or: [{ eq: [{ var: 'resource.attributes.owner' }, { var: 'subject.id' }] }, { eq: [{ var: 'subject.attributes.dept' }, 'eng'] }] } } });
const h = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
const ab = JSON.stringify({ action: 'assets:read', orgId: org.id, resource: { type: 'asset', id: '42' } });
const ap = JSON.stringify({ orgId: org.id });
const mode = process.env.MODE ?? 'all';
for (let r = 0; r < 2; r++) {
  if (mode === 'all' || mode === 'user') { const x = await load(`${running.url}/auth/user`, { headers: { authorization: `Bearer ${member.token}` } }); console.log('user', Math.round(x.reqPerSec), Math.round(x.cpuUsPerReq)); }
  if (mode === 'all' || mode === 'authz') { const x = await load(`${running.url}/auth/authorize`, { method: 'POST', headers: h(member.token), body: ab }); console.log('authz', Math.round(x.reqPerSec), Math.round(x.cpuUsPerReq)); }
  if (mode === 'all' || mode === 'perms') { const x = await load(`${running.url}/auth/permissions`, { method: 'POST', headers: h(member.token), body: ap }); console.log('perms', Math.round(x.reqPerSec), Math.round(x.cpuUsPerReq)); }
}
await running.close();
