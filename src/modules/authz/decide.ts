import { compileCondition, evaluate, type CompiledCondition, type Condition, type EvalContext, type Truth } from './condition.js';
import { findGrant, matchesPattern } from './permissions.js';

/** An ABAC policy; `resources` null/absent means any (or no) resource, `condition` null/absent means always true. */
export type Policy = {
  id: string;
  name: string;
  effect: 'allow' | 'deny';
  actions: string[];
  resources?: string[] | null;
  condition?: Condition | null;
};

export type DecisionResource = NonNullable<EvalContext['resource']>;

export type DecideInput = {
  action: string;
  resource?: DecisionResource;
  subject: EvalContext['subject'];
  env: EvalContext['env'];
  rolePermissions: string[];
  policies: Policy[];
};

export type Decision = { allowed: boolean; reason: string; policyId?: string };

/**
 * `"<type>:<id>"`; without an id `"<type>:"`, which `asset:*` and `*` match but `asset:42` does not.
 */
export function resourceKey(resource: DecisionResource): string {
  return `${resource.type}:${resource.id ?? ''}`;
}

/** True when an action pattern matches and the resource scope (if any) matches; scoped policies need a resource. */
export function policyApplies(policy: Policy, action: string, resource?: DecisionResource): boolean {
  if (!policy.actions.some((pattern) => matchesPattern(pattern, action))) return false;
  if (policy.resources === null || policy.resources === undefined) return true;
  if (!resource) return false;
  const key = resourceKey(resource);
  return policy.resources.some((pattern) => matchesPattern(pattern, key));
}

// Conditions compiled once per condition object: callers that keep their policies (the decision cache) pay
// the tree walk once, and an entry goes away with its policy.
const compiled = new WeakMap<object, CompiledCondition>();

function conditionOf(policy: Policy, ctx: EvalContext): Truth {
  const condition = policy.condition;
  if (condition === null || condition === undefined) return 'true';
  if (typeof condition !== 'object') return evaluate(condition, ctx);
  let fn = compiled.get(condition);
  if (!fn) compiled.set(condition, (fn = compileCondition(condition)));
  return fn(ctx);
}

/**
 * Decides an access request. Order: an applicable deny whose condition is true or indeterminate (fail closed) denies;
 * else a matching role permission allows; else an applicable allow whose condition is true allows; else deny.
 * Policies are considered in the given order; pure and deterministic.
 */
export function decide(input: DecideInput): Decision {
  const { action, resource, subject, env, rolePermissions, policies } = input;
  const ctx: EvalContext = resource ? { subject, resource, env } : { subject, env };
  const applicable = policies.filter((policy) => policyApplies(policy, action, resource));

  for (const policy of applicable) {
    if (policy.effect === 'deny' && conditionOf(policy, ctx) !== 'false') {
      return { allowed: false, reason: `denied by policy "${policy.name}"`, policyId: policy.id };
    }
  }
  const permission = findGrant(rolePermissions, action);
  if (permission !== undefined) {
    return { allowed: true, reason: `granted by role permission "${permission}"` };
  }
  for (const policy of applicable) {
    if (policy.effect === 'allow' && conditionOf(policy, ctx) === 'true') {
      return { allowed: true, reason: `allowed by policy "${policy.name}"`, policyId: policy.id };
    }
  }
  return { allowed: false, reason: `no role or policy grants "${action}"` };
}
