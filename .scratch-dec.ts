import { decide, type Policy } from './src/modules/authz/decide.js';
import { compileCondition } from './src/modules/authz/condition.js';
const policies: Policy[] = [];
for (let i = 0; i < 99; i++) policies.push({ id: `d${i}`, name: `deny ${i}`, effect: 'deny', actions: ['assets:read', `other${i}:*`], resources: ['asset:*'], condition: { and: [{ eq: [{ var: 'subject.attributes.dept' }, `blocked-${i}`] }, { gte: [{ var: 'subject.attributes.level' }, 1] }] } as any });
policies.push({ id: 'a', name: 'allow', effect: 'allow', actions: ['assets:read'], resources: ['asset:*'], condition: { or: [{ eq: [{ var: 'resource.attributes.owner' }, { var: 'subject.id' }] }, { eq: [{ var: 'subject.attributes.dept' }, 'eng'] }] } as any });
for (const p of policies) p.compiled = compileCondition(p.condition!);
const input = { action: 'assets:read', resource: { type: 'asset', id: '42' }, subject: { id: 'u', email: 'e', roles: ['member'], attributes: { dept: 'eng', level: 3 } }, env: { time: new Date().toISOString(), ip: '127.0.0.1' }, rolePermissions: ['org:read', 'members:read', 'roles:read'], policies };
for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let i = 0; i < 20000; i++) decide(input); console.log(((performance.now() - t0) / 20000 * 1000).toFixed(1), 'µs/decision'); }
console.log(decide(input));
