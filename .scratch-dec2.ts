import { decide, type Policy } from './src/modules/authz/decide.js';
import { compileCondition } from './src/modules/authz/condition.js';
import { matchesPattern } from './src/modules/authz/permissions.js';
const mk = () => { const policies: Policy[] = [];
for (let i = 0; i < 99; i++) policies.push({ id: `d${i}`, name: `deny ${i}`, effect: 'deny', actions: ['assets:read', `other${i}:*`], resources: ['asset:*'], condition: { and: [{ eq: [{ var: 'subject.attributes.dept' }, `blocked-${i}`] }, { gte: [{ var: 'subject.attributes.level' }, 1] }] } as any });
policies.push({ id: 'a', name: 'allow', effect: 'allow', actions: ['assets:read'], resources: ['asset:*'], condition: { or: [{ eq: [{ var: 'resource.attributes.owner' }, { var: 'subject.id' }] }, { eq: [{ var: 'subject.attributes.dept' }, 'eng'] }] } as any });
return policies; };
const plain = mk(); const comp = mk(); for (const p of comp) p.compiled = compileCondition(p.condition!);
const noCond = mk().map((p) => ({ ...p, condition: null }));
const input = (policies: Policy[]) => ({ action: 'assets:read', resource: { type: 'asset', id: '42' }, subject: { id: 'u', email: 'e', roles: ['member'], attributes: { dept: 'eng', level: 3 } }, env: { time: new Date().toISOString(), ip: '127.0.0.1' }, rolePermissions: ['org:read', 'members:read', 'roles:read'], policies });
const ctx = { subject: { id: 'u', email: 'e', roles: ['member'], attributes: { dept: 'eng', level: 3 } }, resource: { type: 'asset', id: '42' }, env: { time: 'x', ip: 'y' } };
for (let r = 0; r < 4; r++) for (const [name, fn] of [
  ['plain', () => decide(input(plain))], ['compiled', () => decide(input(comp))], ['noCond(deny all match)', () => decide(input(noCond.slice(99)))],
  ['only conds', () => { for (const p of comp) p.compiled!(ctx as any); }],
  ['only match', () => { for (const p of comp) { p.actions.some((a) => matchesPattern(a, 'assets:read')); p.resources!.some((x) => matchesPattern(x, 'asset:42')); } }],
] as const) { const t0 = performance.now(); for (let i = 0; i < 20000; i++) fn(); console.log(r, name, ((performance.now() - t0) / 20000 * 1000).toFixed(1), 'µs'); }
