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

/** A policy with its condition compiled (null: no condition, always true), its guard (see conditionGuard) and list position. */
interface PlannedPolicy {
  policy: Policy;
  condition: CompiledCondition | null;
  guard: ConditionGuard | null;
  order: number;
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

/** The policies an action matches, and per resource key the candidates among those whose resource scope matches too. */
interface ActionPlan {
  policies: PlannedPolicy[];
  byResource: Map<string, Candidates>;
}

/**
 * The applicable policies of one (action, resource key), indexed by guard: those without a guard, and per
 * guard path the guarded ones by literal. A decision reads each guard path's fact once and takes only the
 * policies whose literal equals it (all of them when the fact is missing), so an org whose policies are
 * keyed on an attribute value (a department, a tenant of its own, a plan) pays for the few that can match.
 */
interface Candidates {
  unguarded: PlannedPolicy[];
  guards: GuardIndex[];
}

interface GuardIndex {
  guard: ConditionGuard;
  /** literal → policies, in list order; `Map` equality (SameValueZero) is `===` for the finite scalars guards hold */
  byLiteral: Map<unknown, PlannedPolicy[]>;
  all: PlannedPolicy[];
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
      policies: policies.map((policy, order) => ({
        policy,
        condition: policy.condition === null || policy.condition === undefined ? null : compileCondition(policy.condition),
        guard: conditionGuard(policy.condition),
        order,
      })),
      byAction: new Map(),
    };
    plans.set(policies, plan);
  }
  return plan;
}

function indexByGuard(policies: PlannedPolicy[]): Candidates {
  const unguarded: PlannedPolicy[] = [];
  const byPath = new Map<string, GuardIndex>();
  for (const p of policies) {
    // A policy without a condition is always true: its guard (none) changes nothing.
    if (p.guard === null || p.condition === null) {
      unguarded.push(p);
      continue;
    }
    let index = byPath.get(p.guard.path);
    if (!index) byPath.set(p.guard.path, (index = { guard: p.guard, byLiteral: new Map(), all: [] }));
    index.all.push(p);
    const same = index.byLiteral.get(p.guard.literal);
    if (same) same.push(p);
    else index.byLiteral.set(p.guard.literal, [p]);
  }
  return { unguarded, guards: [...byPath.values()] };
}

/** The candidates for `action` on the resource `key` (null: no resource). */
function candidatesOf(plan: Plan, action: string, key: string | null): Candidates {
  let forAction = plan.byAction.get(action);
  if (!forAction) {
    const policies = plan.policies.filter(({ policy }) => policy.actions.some((pattern) => matchesPattern(pattern, action)));
    forAction = { policies, byResource: new Map() };
    if (plan.byAction.size >= ACTIONS_PER_PLAN_MAX) plan.byAction.clear();
    plan.byAction.set(action, forAction);
  }
  const memoKey = key ?? NO_RESOURCE;
  let candidates = forAction.byResource.get(memoKey);
  if (!candidates) {
    candidates = indexByGuard(forAction.policies.filter(({ policy }) => resourceMatches(policy, key)));
    if (forAction.byResource.size >= RESOURCES_PER_ACTION_MAX) forAction.byResource.clear();
    forAction.byResource.set(memoKey, candidates);
  }
  return candidates;
}

/**
 * The policies that can apply to this request, in list order: the unguarded ones, and the guarded ones whose
 * guard the facts do not rule out (a fact present and different from the literal makes the condition false
 * without evaluating it; a missing one rules nothing out).
 */
function applicableOf(c: Candidates, ctx: EvalContext): readonly PlannedPolicy[] {
  if (c.guards.length === 0) return c.unguarded;
  let out: PlannedPolicy[] | null = null;
  let sources = c.unguarded.length > 0 ? 1 : 0;
  for (const index of c.guards) {
    const fact = guardFact(ctx, index.guard);
    const hits = fact === undefined ? index.all : index.byLiteral.get(fact);
    if (hits === undefined) continue;
    if (out === null) out = sources === 0 ? hits : [...c.unguarded, ...hits];
    else out = [...out, ...hits];
    sources++;
  }
  if (out === null) return c.unguarded;
  return sources > 1 ? out.sort((a, b) => a.order - b.order) : out;
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

const truthOf = (p: PlannedPolicy, ctx: EvalContext): Truth => (p.condition === null ? 'true' : p.condition(ctx));

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
  const applicable = policies.length === 0 ? [] : applicableOf(candidatesOf(planOf(policies), action, key), ctx);

  for (const p of applicable) {
    if (p.policy.effect === 'deny' && truthOf(p, ctx) !== 'false') {
      return { allowed: false, reason: `denied by policy "${p.policy.name}"`, policyId: p.policy.id };
    }
  }
  const permission = findGrant(rolePermissions, action);
  if (permission !== undefined) {
    return { allowed: true, reason: `granted by role permission "${permission}"` };
  }
  for (const p of applicable) {
    if (p.policy.effect === 'allow' && truthOf(p, ctx) === 'true') {
      return { allowed: true, reason: `allowed by policy "${p.policy.name}"`, policyId: p.policy.id };
    }
  }
  return { allowed: false, reason: `no role or policy grants "${action}"` };
}
