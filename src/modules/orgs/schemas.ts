import { z } from 'zod';
import { IdParam, ListOf } from '../../http/schemas.js';
import { ConditionSchema } from '../authz/condition.js';
import { isValidPermission } from '../authz/permissions.js';
import { Email, UserBody } from '../users/schemas.js';
import { isBuiltInRole, isReservedAction } from './roles.js';

const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const Text = (max: number) => z.string().trim().min(1).max(max).regex(NO_CONTROL, 'must not contain control characters');

export const MAX_MEMBER_ROLES = 10;
export const MAX_CUSTOM_ROLES = 100;
export const MAX_POLICIES = 500;
export const MAX_ATTRIBUTES_BYTES = 4096;

export const OrgIdParam = IdParam('org_id');
export const MemberParams = z.object({ org_id: z.uuid({ message: 'org_id must be a uuid' }), user_id: z.uuid({ message: 'user_id must be a uuid' }) });
export const RoleParams = z.object({ org_id: z.uuid({ message: 'org_id must be a uuid' }), role_id: z.uuid({ message: 'role_id must be a uuid' }) });
export const PolicyParams = z.object({ org_id: z.uuid({ message: 'org_id must be a uuid' }), policy_id: z.uuid({ message: 'policy_id must be a uuid' }) });
export const InviteParams = z.object({ org_id: z.uuid({ message: 'org_id must be a uuid' }), invite_id: z.uuid({ message: 'invite_id must be a uuid' }) });

/** A permission pattern `resource:action` with `*` wildcards (`assets:read`, `assets:*`, `*`). */
export const Permission = z.string().max(128).refine(isValidPermission,
  'must be "resource:action" of [a-z0-9_.-] segments, either of which may be "*"');

export const RoleName = z.string().trim().min(1).max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'must start with a letter or digit and contain only letters, digits, space, _ . -');

const RoleNames = z.array(RoleName).min(1).max(MAX_MEMBER_ROLES)
  .refine((r) => new Set(r.map((x) => x.toLowerCase())).size === r.length, 'must not repeat a role');

const CustomRoleName = RoleName.refine((n) => !isBuiltInRole(n.toLowerCase()), 'is the name of a built-in role (owner, admin, member)');

const ATTRIBUTE_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A flat-keyed JSON object of bounded size, as read by conditions (`<root>.attributes.<k>`). An object with
 * any keys (`looseObject`): the same JSON Schema as a string-keyed record, at a quarter of the parse cost.
 */
export const AttributeObject = (o: AttributeLimits) => z.looseObject({}).superRefine((a, ctx) => {
  const problem = attributeProblem(a, o);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

export interface AttributeLimits { maxKeys: number; maxBytes: number }

/** What is wrong with an attribute object's keys or size (AttributeObject's rule), or null. */
export function attributeProblem(a: Record<string, unknown>, o: AttributeLimits): string | null {
  const keys = Object.keys(a);
  const bad = keys.find((k) => !ATTRIBUTE_KEY.test(k));
  if (bad !== undefined) return `key ${JSON.stringify(bad.slice(0, 64))} must match [A-Za-z0-9_-]{1,64}`;
  if (keys.length > o.maxKeys) return `at most ${o.maxKeys} attributes`;
  if (!jsonFitsCheaply(a, o.maxBytes) && Buffer.byteLength(JSON.stringify(a)) > o.maxBytes) return `at most ${o.maxBytes} bytes as JSON`;
  return null;
}

/**
 * True when a flat object of scalars (keys already checked to be ASCII) is surely no larger than `maxBytes`
 * as JSON, by an upper bound that needs no serialization: every string character escaped (6 bytes),
 * every number at its longest form. False means "serialize and measure", not "too large".
 */
function jsonFitsCheaply(a: Record<string, unknown>, maxBytes: number): boolean {
  let bound = 2;
  for (const k in a) {
    const v = a[k];
    bound += k.length + 4;
    if (typeof v === 'string') bound += 2 + 6 * v.length;
    else if (typeof v === 'number') bound += 25;
    else if (typeof v === 'boolean' || v === null) bound += 5;
    else return false;
    if (bound > maxBytes) return false;
  }
  return true;
}

/** Member attributes (read by conditions as `subject.attributes.<k>`). */
export const Attributes = AttributeObject({ maxKeys: 32, maxBytes: MAX_ATTRIBUTES_BYTES });

// ---- orgs -----------------------------------------------------------------------------------------------

export const CreateOrgBody = z.object({ name: Text(200) }).strict().meta({ id: 'CreateOrgBody' });
export const UpdateOrgBody = z.object({ name: Text(200) }).strict().meta({ id: 'UpdateOrgBody', description: 'Only the name can change; id, tenantId and createdAt are immutable (refused).' });

export const OrgBody = z.object({
  id: z.uuid(),
  name: z.string(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  roles: z.array(z.string()).describe('the caller\'s roles in this org'),
}).meta({ id: 'Org' });
export const OrgList = ListOf(OrgBody).meta({ id: 'OrgList' });

export const OrgSwitchResponse = z.object({
  user: UserBody,
  tokens: z.object({
    accessToken: z.string().describe('a new access token carrying `org` and `roles`'),
    expiresIn: z.number().int(),
  }).describe('the refresh token is unchanged: keep the one you hold; refreshes keep the active org'),
  orgId: z.uuid(),
  roles: z.array(z.string()),
}).meta({ id: 'OrgSwitchResponse' });

// ---- members --------------------------------------------------------------------------------------------

export const MemberBody = z.object({
  userId: z.uuid(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  roles: z.array(z.string()),
  attributes: z.record(z.string(), z.unknown()),
  joinedAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'OrgMember' });
export const MemberList = ListOf(MemberBody).meta({ id: 'OrgMemberList' });

export const UpdateMemberBody = z.object({
  roles: RoleNames.optional().describe('replaces the member\'s roles: built-in (owner, admin, member) or custom role names'),
  attributes: Attributes.optional().describe('replaces the member\'s attributes (subject.attributes in policy conditions)'),
}).strict().refine((b) => b.roles !== undefined || b.attributes !== undefined, 'send roles and/or attributes')
  .meta({ id: 'UpdateMemberBody' });

// ---- roles ----------------------------------------------------------------------------------------------

export const CreateRoleBody = z.object({
  name: CustomRoleName,
  permissions: z.array(Permission).max(100),
  description: Text(500).optional(),
}).strict().meta({ id: 'CreateRoleBody' });

export const UpdateRoleBody = z.object({
  name: CustomRoleName.optional(),
  permissions: z.array(Permission).max(100).optional(),
  description: Text(500).nullable().optional(),
}).strict().refine((b) => b.name !== undefined || b.permissions !== undefined || b.description !== undefined, 'send name, permissions and/or description')
  .meta({ id: 'UpdateRoleBody' });

export const RoleBody = z.object({
  id: z.uuid().nullable().describe('null for the built-in roles'),
  name: z.string(),
  permissions: z.array(z.string()),
  description: z.string().nullable(),
  builtIn: z.boolean(),
}).meta({ id: 'OrgRole' });
export const RoleList = ListOf(RoleBody).meta({ id: 'OrgRoleList' });

// ---- policies -------------------------------------------------------------------------------------------

const PolicyAction = Permission.refine((a) => !isReservedAction(a),
  'actions on the org\'s own resources (org, members, roles, policies, invites) are decided by roles only');

/** `"<type>:<id>"` patterns; `*` for a whole segment (`asset:*`, `*`). */
export const ResourcePattern = z.string().max(330)
  .regex(/^(?:\*|[A-Za-z0-9_.-]{1,64})(?::(?:\*|[^\s\u0000-\u001f]{1,256}))?$/, 'must be "<type>" or "<type>:<id>", either of which may be "*"');

export const CreatePolicyBody = z.object({
  name: Text(100),
  description: Text(500).optional(),
  effect: z.enum(['allow', 'deny']),
  actions: z.array(PolicyAction).min(1).max(50),
  resources: z.array(ResourcePattern).max(50).nullable().optional().describe('omitted or null: applies with or without a resource'),
  condition: ConditionSchema.nullable().optional(),
}).strict().meta({ id: 'CreatePolicyBody' });

export const PolicyBody = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  effect: z.enum(['allow', 'deny']),
  actions: z.array(z.string()),
  resources: z.array(z.string()).nullable(),
  condition: z.unknown().nullable(),
  createdAt: z.iso.datetime(),
}).meta({ id: 'OrgPolicy' });
export const PolicyList = ListOf(PolicyBody).meta({ id: 'OrgPolicyList' });

// ---- invites --------------------------------------------------------------------------------------------

export const CreateInviteBody = z.object({
  email: Email,
  roles: RoleNames,
  redirectUrl: z.string().max(2048).optional().describe('your app\'s accept page; must be one of the tenant\'s redirectUrls (the mail links to it with ?token=…)'),
}).strict().meta({ id: 'CreateInviteBody' });

export const InviteBody = z.object({
  id: z.uuid(),
  orgId: z.uuid(),
  email: z.string(),
  roles: z.array(z.string()),
  status: z.enum(['pending', 'accepted', 'expired']),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
}).meta({ id: 'OrgInvite' });
export const InviteList = ListOf(InviteBody).meta({ id: 'OrgInviteList' });
export const CreatedInvite = InviteBody.extend({
  token: z.string().describe('shown once; also mailed to the invitee'),
}).meta({ id: 'CreatedOrgInvite' });

export const AcceptInviteBody = z.object({ token: z.string().min(1).max(512) }).strict().meta({ id: 'AcceptInviteBody' });

export type CreatePolicyInput = z.output<typeof CreatePolicyBody>;
export type CreateRoleInput = z.output<typeof CreateRoleBody>;
export type UpdateRoleInput = z.output<typeof UpdateRoleBody>;
export type UpdateMemberInput = z.output<typeof UpdateMemberBody>;
