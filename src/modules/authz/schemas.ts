import { z } from 'zod';
import { withFastPath } from '../../http/validator.js';
import { isPlainObject } from '../../lib/plain-object.js';
import { AttributeObject, attributeProblem } from '../orgs/schemas.js';

const MAX_RESOURCE_ATTRIBUTES_BYTES = 16 * 1024;
const RESOURCE_ATTRIBUTES = { maxKeys: 64, maxBytes: MAX_RESOURCE_ATTRIBUTES_BYTES };
const ACTION_MAX = 128;
const ACTION = /^[a-z0-9_.-]+(?::[a-z0-9_.-]+)?$/;
const RESOURCE_TYPE = /^[A-Za-z0-9_.-]{1,64}$/;
const RESOURCE_ID_MAX = 256;
const RESOURCE_ID = /^[^\s\u0000-\u001f\u007f]+$/;
// zod's own pattern for z.uuid(), so that the fast path accepts exactly what the schema does.
const UUID = z.regexes.uuid();

export const Action = z.string().max(ACTION_MAX)
  .regex(ACTION, 'must be a concrete "resource:action" (segments of [a-z0-9_.-], no wildcards)');

const ResourceRef = z.object({
  type: z.string().regex(RESOURCE_TYPE, 'must be 1–64 of [A-Za-z0-9_.-]'),
  id: z.string().min(1).max(RESOURCE_ID_MAX).regex(RESOURCE_ID, 'must not contain spaces or control characters').optional(),
  attributes: AttributeObject(RESOURCE_ATTRIBUTES)
    .optional()
    .describe('read by conditions as resource.attributes.<k>; accepted only from an API key with the authz:check scope'),
}).strict();

export const AuthorizeBody = withFastPath(z.object({
  action: Action,
  resource: ResourceRef.optional(),
  orgId: z.uuid().optional().describe('default: the token\'s active org, or the API key\'s org'),
  subjectId: z.uuid().optional().describe('ask about another user of the tenant: API keys with the authz:check scope only'),
}).strict().meta({ id: 'AuthorizeBody' }), plainAuthorizeBody);

export const AuthorizeResponse = z.object({
  allowed: z.boolean(),
  reason: z.string(),
  policyId: z.uuid().optional().describe('the deciding policy, when a policy decided'),
}).meta({ id: 'AuthorizeResponse' });

export const PermissionsBody = z.object({ orgId: z.uuid().optional() }).strict().meta({ id: 'PermissionsBody' });
export const PermissionsResponse = z.object({
  orgId: z.uuid().nullable(),
  roles: z.array(z.string()),
  permissions: z.array(z.string()).describe('permission patterns of the roles (an API key\'s narrowed by its scopes)'),
}).meta({ id: 'PermissionsResponse' });

/**
 * AuthorizeBody's fast path (resource servers send one per request they serve): the same rules, read
 * directly, costing a fraction of zod's generic walk. Anything unusual — an unknown key, a wrong type,
 * a failed pattern — answers false, and zod gives the 400 with its message.
 */
export function plainAuthorizeBody(b: unknown): boolean {
  if (!isPlainObject(b)) return false;
  for (const k in b) {
    const v = b[k];
    switch (k) {
      case 'action':
        if (typeof v !== 'string' || v.length > ACTION_MAX || !ACTION.test(v)) return false;
        break;
      case 'resource':
        if (!plainResource(v)) return false;
        break;
      case 'orgId':
      case 'subjectId':
        if (typeof v !== 'string' || !UUID.test(v)) return false;
        break;
      default:
        return false;
    }
  }
  return typeof b.action === 'string';
}

function plainResource(r: unknown): boolean {
  if (!isPlainObject(r)) return false;
  for (const k in r) {
    const v = r[k];
    switch (k) {
      case 'type':
        if (typeof v !== 'string' || !RESOURCE_TYPE.test(v)) return false;
        break;
      case 'id':
        if (typeof v !== 'string' || v.length > RESOURCE_ID_MAX || !RESOURCE_ID.test(v)) return false;
        break;
      case 'attributes':
        if (!isPlainObject(v) || attributeProblem(v, RESOURCE_ATTRIBUTES) !== null) return false;
        break;
      default:
        return false;
    }
  }
  return typeof r.type === 'string';
}
