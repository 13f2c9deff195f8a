import { compileCondition, conditionGuard, guardFact, type CompiledCondition, type Condition, type ConditionGuard, type EvalContext, type Truth } from './condition.js';
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

/** A policy with its condition compiled (null: no condition, always true) and its guard (see conditionGuard). */
interface PlannedPolicy {
  policy: Policy;
  condition: CompiledCondition | null;
  guard: ConditionGuard | null;
}

/**
 * What decisions need of one policy list, built once per list object: the compiled conditions, and per
 * action the policies whose action patterns match it. The decision cache keeps an org's list until the
 * org changes, so a warm decision only checks resource scopes and evaluates conditions.
 */
interface Plan {
  policies: PlannedPolicy[];
  byAction: Map<string, ActionPlan>;
}

/** The policies an action matches, and per resource key those whose resource scope matches too. */
interface ActionPlan {
  policies: PlannedPolicy[];
  byResource: Map<string, PlannedPolicy[]>;
}

// Actions and resources are caller input: the memos are bounded, and cleared whole when full.
const ACTIONS_PER_PLAN_MAX = 1_000;
const RESOURCES_PER_ACTION_MAX = 1_000;
const NO_RESOURCE = '\u0000none';
const plans = new WeakMap<readonly Policy[], Plan>();

function planOf(policies: readonly Policy[]): Plan {
  let plan = plans.get(policies);
  if (!plan) {
    plan = {
      policies: policies.map((policy) => ({
        policy,
        condition: policy.condition === null || policy.condition === undefined ? null : compileCondition(policy.condition),
        guard: conditionGuard(policy.condition),
      })),
      byAction: new Map(),
    };
    plans.set(policies, plan);
  }
  return plan;
}

/** The policies that apply to `action` on the resource `key` (null: no resource), in list order. */
function applicableOf(plan: Plan, action: string, key: string | null): PlannedPolicy[] {
  let forAction = plan.byAction.get(action);
  if (!forAction) {
    const policies = plan.policies.filter(({ policy }) => policy.actions.some((pattern) => matchesPattern(pattern, action)));
    forAction = { policies, byResource: new Map() };
    if (plan.byAction.size >= ACTIONS_PER_PLAN_MAX) plan.byAction.clear();
    plan.byAction.set(action, forAction);
  }
  const memoKey = key ?? NO_RESOURCE;
  let list = forAction.byResource.get(memoKey);
  if (!list) {
    list = forAction.policies.filter(({ policy }) => resourceMatches(policy, key));
    if (forAction.byResource.size >= RESOURCES_PER_ACTION_MAX) forAction.byResource.clear();
    forAction.byResource.set(memoKey, list);
  }
  return list;
}

/** The resource scope of a policy whose actions match: unscoped, or a pattern matching `key` (null: no resource). */
function resourceMatches(policy: Policy, key: string | null): boolean {
  if (policy.resources === null || policy.resources === undefined) return true;
  if (key === null) return false;
  return policy.resources.some((pattern) => matchesPattern(pattern, key));
}

/** True when an action pattern matches and the resource scope (if any) matches; scoped policies need a resource. */
export function policyApplies(policy: Policy, action: string, resource?: DecisionResource): boolean {
  return policy.actions.some((pattern) => matchesPattern(pattern, action)) && resourceMatches(policy, resource ? resourceKey(resource) : null);
}

/**
 * The policy's condition. A guard whose fact is present and differs from its literal makes the condition
 * false without evaluating it (the facts a guard reads are read once per decision, in `facts`).
 */
function conditionOf(p: PlannedPolicy, ctx: EvalContext, facts: Map<string, unknown>): Truth {
  if (p.condition === null) return 'true';
  const g = p.guard;
  if (g !== null) {
    let fact = facts.get(g.path);
    if (fact === undefined && !facts.has(g.path)) facts.set(g.path, (fact = guardFact(ctx, g)));
    if (fact !== undefined && fact !== g.literal) return 'false';
  }
  return p.condition(ctx);
}

/**
 * Decides an access request. Order: an applicable deny whose condition is true or indeterminate (fail closed) denies;
 * else a matching role permission allows; else an applicable allow whose condition is true allows; else deny.
 * Policies are considered in the given order; pure and deterministic. The policy list must not be changed
 * in place after a decision (its compiled plan is kept per list object); the decision cache replaces lists.
 */
export function decide(input: DecideInput): Decision {
  const { action, resource, subject, env, rolePermissions, policies } = input;
  const ctx: EvalContext = resource ? { subject, resource, env } : { subject, env };
  const key = resource ? resourceKey(resource) : null;
  const applicable = policies.length === 0 ? [] : applicableOf(planOf(policies), action, key);
  const facts = new Map<string, unknown>();

  for (const p of applicable) {
    if (p.policy.effect === 'deny' && conditionOf(p, ctx, facts) !== 'false') {
      return { allowed: false, reason: `denied by policy "${p.policy.name}"`, policyId: p.policy.id };
    }
  }
  const permission = findGrant(rolePermissions, action);
  if (permission !== undefined) {
    return { allowed: true, reason: `granted by role permission "${permission}"` };
  }
  for (const p of applicable) {
    if (p.policy.effect === 'allow' && conditionOf(p, ctx, facts) === 'true') {
      return { allowed: true, reason: `allowed by policy "${p.policy.name}"`, policyId: p.policy.id };
    }
  }
  return { allowed: false, reason: `no role or policy grants "${action}"` };
}
