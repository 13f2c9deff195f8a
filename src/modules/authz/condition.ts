import { z } from 'zod';
import { isPlainObject } from '../../lib/plain-object.js';

/** Maximum nesting depth of condition nodes (and nested array literals). */
export const MAX_CONDITION_DEPTH = 16;
/** Maximum number of nodes in a tree: every condition node, every operand and every nested array literal counts. */
export const MAX_CONDITION_NODES = 256;
/** Maximum length of any string in a condition (literals and var paths). */
export const MAX_CONDITION_STRING_LENGTH = 1024;
/** Maximum number of items in any array of a condition (and/or lists and array literals). */
export const MAX_CONDITION_ARRAY_ITEMS = 256;

/** Comparison operators; each takes exactly two operands. */
export const COMPARISON_OPERATORS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in'] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

/** A JSON literal operand: scalar or (possibly nested) array of literals. */
export type Literal = string | number | boolean | null | Literal[];
/** A reference to a value of the evaluation context, e.g. `{"var": "subject.attributes.dept"}`. */
export type VarRef = { var: string };
export type Operand = Literal | VarRef;

/** A validated condition tree. */
export type Condition =
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition }
  | { [K in ComparisonOperator]: { [P in K]: [Operand, Operand] } }[ComparisonOperator];

/** Facts a condition is evaluated against. */
export type EvalContext = {
  subject: { id: string; email?: string | null; roles: string[]; attributes: Record<string, unknown> };
  resource?: { type: string; id?: string; attributes?: Record<string, unknown> };
  env: { time: string; ip: string };
};

/** Kleene three-valued result; 'indeterminate' means a needed fact was missing. */
export type Truth = 'true' | 'false' | 'indeterminate';

export type ConditionError = { path: string; message: string };
export type ValidationResult = { ok: true; condition: Condition } | { ok: false; errors: ConditionError[] };

type PathSegment = string | number;
type Issue = { path: PathSegment[]; message: string };

const MAX_ISSUES = 50;
const ATTRIBUTE_SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);
const ROOTS = new Set(['subject', 'resource', 'env']);
const FIXED_PATHS = new Set(['subject.id', 'subject.email', 'subject.roles', 'resource.type', 'resource.id', 'env.time', 'env.ip']);
const COMPARISONS: ReadonlySet<string> = new Set(COMPARISON_OPERATORS);

/** Quotes user-supplied text for an error message without echoing unbounded input. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/** Returns why a `var` path is invalid, or undefined when it is a readable path. */
function varPathError(path: string): string | undefined {
  if (path.length > MAX_CONDITION_STRING_LENGTH) return `path longer than ${MAX_CONDITION_STRING_LENGTH} characters`;
  if (FIXED_PATHS.has(path)) return undefined;
  const segments = path.split('.');
  const [root, second] = segments;
  if (!ROOTS.has(root)) return `unknown root ${quote(root)} (expected subject, resource or env)`;
  if (root === 'env' || second !== 'attributes' || segments.length < 3) return `unknown path ${quote(path)}`;
  for (const segment of segments.slice(2)) {
    if (FORBIDDEN_SEGMENTS.has(segment)) return `forbidden path segment ${quote(segment)}`;
    if (!ATTRIBUTE_SEGMENT.test(segment)) return `invalid path segment ${quote(segment)} (must match ${ATTRIBUTE_SEGMENT})`;
  }
  return undefined;
}

class Walk {
  issues: Issue[] = [];
  nodes = 0;
  aborted = false;

  fail(path: PathSegment[], message: string): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ path, message });
  }

  /** Counts a node; false once a limit is hit so the caller stops descending. */
  enter(path: PathSegment[], depth: number): boolean {
    if (this.aborted) return false;
    if (++this.nodes > MAX_CONDITION_NODES) {
      this.aborted = true;
      this.fail(path, `condition has more than ${MAX_CONDITION_NODES} nodes`);
      return false;
    }
    if (depth > MAX_CONDITION_DEPTH) {
      this.fail(path, `condition is nested deeper than ${MAX_CONDITION_DEPTH} levels`);
      return false;
    }
    return true;
  }

  condition(node: unknown, path: PathSegment[], depth: number): void {
    if (!this.enter(path, depth)) return;
    if (!isPlainObject(node)) return this.fail(path, 'expected a condition object');
    const keys = Object.keys(node);
    if (keys.length !== 1) {
      const got = keys.length === 0 ? 'none' : keys.map(quote).join(', ');
      return this.fail(path, `a condition node must have exactly one operator key, got ${got}`);
    }
    const op = keys[0];
    const arg = node[op];
    const at = [...path, op];
    if (op === 'and' || op === 'or') {
      if (!Array.isArray(arg) || arg.length === 0) return this.fail(at, `"${op}" takes a non-empty array of conditions`);
      if (arg.length > MAX_CONDITION_ARRAY_ITEMS) return this.fail(at, `"${op}" takes at most ${MAX_CONDITION_ARRAY_ITEMS} items`);
      arg.forEach((child, i) => this.condition(child, [...at, i], depth + 1));
    } else if (op === 'not') {
      if (!isPlainObject(arg)) return this.fail(at, '"not" takes exactly one condition object');
      this.condition(arg, at, depth + 1);
    } else if (COMPARISONS.has(op)) {
      if (!Array.isArray(arg) || arg.length !== 2) return this.fail(at, `"${op}" takes exactly 2 operands`);
      arg.forEach((operand, i) => this.operand(operand, [...at, i], depth));
    } else {
      this.fail(at, `unknown operator ${quote(op)} (expected and, or, not, ${COMPARISON_OPERATORS.join(', ')})`);
    }
  }

  operand(value: unknown, path: PathSegment[], depth: number): void {
    if (!this.enter(path, depth)) return;
    if (!isPlainObject(value)) return this.literal(value, path, depth);
    const keys = Object.keys(value);
    if (keys.length !== 1 || keys[0] !== 'var') return this.fail(path, 'an object operand must be exactly {"var": "<path>"}');
    if (typeof value.var !== 'string') return this.fail([...path, 'var'], 'path must be a string');
    const error = varPathError(value.var);
    if (error) this.fail([...path, 'var'], error);
  }

  literal(value: unknown, path: PathSegment[], depth: number): void {
    if (value === null || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) this.fail(path, 'numbers must be finite');
    } else if (typeof value === 'string') {
      if (value.length > MAX_CONDITION_STRING_LENGTH) {
        this.fail(path, `string longer than ${MAX_CONDITION_STRING_LENGTH} characters`);
      }
    } else if (Array.isArray(value)) {
      if (value.length > MAX_CONDITION_ARRAY_ITEMS) return this.fail(path, `array has more than ${MAX_CONDITION_ARRAY_ITEMS} items`);
      value.forEach((item, i) => {
        if (!Array.isArray(item)) return this.literal(item, [...path, i], depth);
        if (this.enter([...path, i], depth + 1)) this.literal(item, [...path, i], depth + 1);
      });
    } else {
      this.fail(path, 'expected a JSON literal (string, number, boolean, null, array) or {"var": "<path>"}');
    }
  }
}

function collectIssues(input: unknown): Issue[] {
  const walk = new Walk();
  try {
    walk.condition(input, [], 1);
  } catch {
    // Only exotic non-JSON input (throwing getters, proxies) gets here.
    walk.fail([], 'condition could not be read');
  }
  return walk.issues;
}

function formatPath(path: PathSegment[]): string {
  return path.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : `${acc}.${s}`), 'condition');
}

/** Validates an untrusted condition tree; errors carry paths like `condition.and[1].gt`. Never throws. */
export function validateCondition(input: unknown): ValidationResult {
  const issues = collectIssues(input);
  if (issues.length === 0) return { ok: true, condition: input as Condition };
  return { ok: false, errors: issues.map((i) => ({ path: formatPath(i.path), message: i.message })) };
}

/** Zod schema running validateCondition; each error becomes a custom issue at its path relative to the field. */
export const ConditionSchema = z
  .custom<Condition>()
  .superRefine((value, ctx) => {
    for (const issue of collectIssues(value)) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  })
  .meta({ description: 'ABAC condition tree: {"and":[…]}, {"or":[…]}, {"not":…} or {"<op>":[a,b]}' });

const MISSING = Symbol('missing');
const MAX_COMPARE_DEPTH = 64;
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

// Decisions read the same few paths over and over: keep their checked segments (null: not a readable path).
// Bounded so that evaluating untrusted trees cannot grow it without limit; cleared whole when full.
const PATH_MEMO_MAX = 10_000;
const pathMemo = new Map<string, readonly string[] | null>();

function segmentsOf(path: string): readonly string[] | null {
  let segments = pathMemo.get(path);
  if (segments === undefined) {
    segments = varPathError(path) === undefined ? path.split('.') : null;
    if (pathMemo.size >= PATH_MEMO_MAX) pathMemo.clear();
    pathMemo.set(path, segments);
  }
  return segments;
}

function readSegments(ctx: unknown, segments: readonly string[]): unknown {
  let current: unknown = ctx;
  for (const segment of segments) {
    // Own properties of non-array objects only: no prototype chain, no array `length`.
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return MISSING;
    if (!Object.hasOwn(current, segment)) return MISSING;
    current = (current as Record<string, unknown>)[segment];
  }
  return current === undefined ? MISSING : current;
}

function jsonEqual(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  // Throwing makes evaluate() answer indeterminate rather than guess on pathological (e.g. cyclic) facts.
  if (depth > MAX_COMPARE_DEPTH) throw new RangeError('value nested too deeply to compare');
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i], depth + 1));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length &&
    keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k], depth + 1));
}

/** Epoch millis of a strict ISO-8601 date or zoned date-time, or undefined (rejects e.g. Feb 30). */
function isoInstant(s: string): number | undefined {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // Date.UTC would map years 0-99 onto 1900-1999
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

/** -1/0/1 ordering of two numbers or two strings (ISO instants when both parse), undefined when incomparable. */
function order(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return undefined;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a !== 'string' || typeof b !== 'string') return undefined;
  const ta = isoInstant(a);
  const tb = ta === undefined ? undefined : isoInstant(b);
  if (ta !== undefined && tb !== undefined) return Math.sign(ta - tb);
  return a < b ? -1 : a > b ? 1 : 0;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  switch (op) {
    case 'eq': return jsonEqual(a, b, 0);
    case 'ne': return !jsonEqual(a, b, 0);
    case 'in': return Array.isArray(b) && b.some((item) => jsonEqual(a, item, 0));
  }
  const o = order(a, b);
  if (o === undefined) return false;
  return op === 'gt' ? o > 0 : op === 'gte' ? o >= 0 : op === 'lt' ? o < 0 : o <= 0;
}

/** A condition turned into a function of the facts; see compileCondition. */
export type CompiledCondition = (ctx: EvalContext) => Truth;
type Node = (ctx: unknown) => Truth;
type OperandFn = (ctx: unknown) => unknown;

const INDETERMINATE: Node = () => 'indeterminate';
const NOT: Record<Truth, Truth> = { true: 'false', false: 'true', indeterminate: 'indeterminate' };

// The tree is walked once, into closures; evaluation then allocates nothing. Anything that is not a
// well-formed node (wrong shape, unknown operator, too deep) becomes a node that answers indeterminate.
function compileNode(node: unknown, depth: number): Node {
  if (depth > MAX_CONDITION_DEPTH || !isPlainObject(node)) return INDETERMINATE;
  const keys = Object.keys(node);
  if (keys.length !== 1) return INDETERMINATE;
  const op = keys[0];
  const arg = node[op];
  if (op === 'and' || op === 'or') {
    if (!Array.isArray(arg) || arg.length === 0) return INDETERMINATE;
    // Array.from visits holes of a sparse array (as undefined, i.e. indeterminate) where map would skip them.
    const children = Array.from(arg as unknown[], (child) => compileNode(child, depth + 1));
    const dominant: Truth = op === 'and' ? 'false' : 'true';
    const otherwise: Truth = op === 'and' ? 'true' : 'false';
    return (ctx) => {
      let sawIndeterminate = false;
      for (const child of children) {
        const r = child(ctx);
        if (r === dominant) return r;
        if (r === 'indeterminate') sawIndeterminate = true;
      }
      return sawIndeterminate ? 'indeterminate' : otherwise;
    };
  }
  if (op === 'not') {
    const inner = compileNode(arg, depth + 1);
    return (ctx) => NOT[inner(ctx)];
  }
  if (!COMPARISONS.has(op) || !Array.isArray(arg) || arg.length !== 2) return INDETERMINATE;
  const left = compileOperand(arg[0]);
  const right = compileOperand(arg[1]);
  return (ctx) => {
    const a = left(ctx);
    const b = right(ctx);
    if (a === MISSING || b === MISSING) return 'indeterminate';
    return compare(op, a, b) ? 'true' : 'false';
  };
}

function compileOperand(operand: unknown): OperandFn {
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const path = operand.var;
    if (keys.length !== 1 || typeof path !== 'string') return () => MISSING;
    // The path is checked and split once, here, not at every evaluation.
    const segments = segmentsOf(path);
    if (segments === null) return () => MISSING;
    return (ctx) => readSegments(ctx, segments);
  }
  const value = operand === undefined ? MISSING : operand;
  return () => value;
}

/**
 * A test a condition cannot be true without: its own node, or the first child of its top-level `and`, when
 * that is `{"eq": [{"var": path}, literal]}` (either order) with a string, number, boolean or null literal.
 * When the fact at `path` is present and differs from the literal, that node evaluates to false before any
 * other node is evaluated, so the whole condition is false; when it is missing or equal, only a full
 * evaluation can tell. Lets a decision skip the many policies of an org that are keyed on another value.
 */
export interface ConditionGuard {
  path: string;
  segments: readonly string[];
  literal: string | number | boolean | null;
}

const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function eqGuard(node: unknown): ConditionGuard | null {
  if (!isPlainObject(node)) return null;
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'eq') return null;
  const arg = node.eq;
  if (!Array.isArray(arg) || arg.length !== 2) return null;
  const [a, b] = arg as unknown[];
  const varOf = (x: unknown): string | null =>
    isPlainObject(x) && Object.keys(x).length === 1 && typeof x.var === 'string' ? x.var : null;
  const path = varOf(a) ?? varOf(b);
  const literal = varOf(a) !== null ? b : a;
  if (path === null || !isScalar(literal)) return null;
  const segments = segmentsOf(path);
  return segments === null ? null : { path, segments, literal };
}

export function conditionGuard(condition: Condition | null | undefined): ConditionGuard | null {
  try {
    if (!isPlainObject(condition)) return null;
    const keys = Object.keys(condition);
    if (keys.length === 1 && keys[0] === 'and') {
      const children = (condition as Record<string, unknown>).and;
      return Array.isArray(children) && children.length > 0 ? eqGuard(children[0]) : null;
    }
    return eqGuard(condition);
  } catch {
    return null;
  }
}

/** The fact at a guard's path, or undefined when it is missing (then the guard cannot rule anything out). */
export function guardFact(ctx: EvalContext, guard: ConditionGuard): unknown {
  const v = readSegments(ctx, guard.segments);
  return v === MISSING ? undefined : v;
}

/**
 * Compiles a condition once for many evaluations (the decision cache keeps policies compiled). The result
 * answers exactly as `evaluate` and never throws: a failure while compiling or evaluating (pathological
 * input such as values nested too deeply to compare) is indeterminate for the whole condition.
 */
export function compileCondition(condition: Condition): CompiledCondition {
  let root: Node;
  try {
    root = compileNode(condition, 1);
  } catch {
    // Only exotic non-JSON input (throwing getters, proxies) gets here.
    return INDETERMINATE;
  }
  return (ctx) => {
    try {
      return root(ctx);
    } catch {
      return 'indeterminate';
    }
  };
}

/** Evaluates a condition with Kleene logic; a missing fact yields 'indeterminate'. Never throws, even on garbage. */
export function evaluate(condition: Condition, ctx: EvalContext): Truth {
  return compileCondition(condition)(ctx);
}
