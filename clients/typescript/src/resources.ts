import type { AuthedCall } from './client.js';
import type { Body, Op } from './http.js';

type B<M extends 'post' | 'patch', P extends string> = P extends keyof import('./generated/openapi.js').paths ? Body<Op<M, P>> : never;

/** Thin, typed wrappers over the signed-in user's resources: sessions, API keys, MFA, orgs, authorization. */
export function createResources(authed: AuthedCall, o: { useAccessToken(t: { accessToken: string; expiresIn: number }): void }) {
  return {
    sessions: {
      list: () => authed('get', '/auth/sessions'),
      /** Revokes one session (another device). */
      revoke: (id: string) => authed('delete', '/auth/sessions/{id}', { params: { id } }),
      /** Revokes every session of the user, this one included (a sensitive, TOTP-gated route). */
      revokeAll: () => authed('delete', '/auth/sessions'),
    },
    apiKeys: {
      list: () => authed('get', '/auth/api-keys'),
      /** Creates a key; the plaintext `ck_…` is in the answer, shown once. TOTP-gated for MFA users. */
      create: (body: B<'post', '/auth/api-keys'>) => authed('post', '/auth/api-keys', { body }),
      delete: (id: string) => authed('delete', '/auth/api-keys/{id}', { params: { id } }),
      /** The Cedros single default key (its metadata). */
      getDefault: () => authed('get', '/auth/user/api-key'),
      regenerateDefault: () => authed('post', '/auth/user/api-key/regenerate'),
    },
    mfa: {
      status: () => authed('get', '/auth/mfa/status'),
      /** Starts enrolment: the secret and its otpauth URI. */
      setup: () => authed('post', '/auth/mfa/setup'),
      /** Confirms enrolment with a code; answers the recovery codes, shown once. */
      enable: (code: string) => authed('post', '/auth/mfa/enable', { body: { code } }),
      disable: (body: B<'post', '/auth/mfa/disable'>) => authed('post', '/auth/mfa/disable', { body }),
      /** Steps the session up for 5 minutes. */
      verify: (code: string) => authed('post', '/auth/mfa/verify', { body: { code } }),
    },
    orgs: {
      list: () => authed('get', '/auth/orgs'),
      create: (body: B<'post', '/auth/orgs'>) => authed('post', '/auth/orgs', { body }),
      get: (orgId: string) => authed('get', '/auth/orgs/{org_id}', { params: { org_id: orgId } }),
      update: (orgId: string, body: B<'patch', '/auth/orgs/{org_id}'>) => authed('patch', '/auth/orgs/{org_id}', { params: { org_id: orgId }, body }),
      delete: (orgId: string) => authed('delete', '/auth/orgs/{org_id}', { params: { org_id: orgId } }),
      /** Makes the org active: new tokens carry its `org` and `roles`. */
      async switch(orgId: string) {
        const r = await authed('post', '/auth/orgs/{org_id}/switch', { params: { org_id: orgId } });
        o.useAccessToken(r.tokens); // the refresh token is unchanged; refreshes keep the active org
        return r;
      },
      members: {
        list: (orgId: string) => authed('get', '/auth/orgs/{org_id}/members', { params: { org_id: orgId } }),
        update: (orgId: string, userId: string, body: B<'patch', '/auth/orgs/{org_id}/members/{user_id}'>) =>
          authed('patch', '/auth/orgs/{org_id}/members/{user_id}', { params: { org_id: orgId, user_id: userId }, body }),
        remove: (orgId: string, userId: string) => authed('delete', '/auth/orgs/{org_id}/members/{user_id}', { params: { org_id: orgId, user_id: userId } }),
      },
      roles: {
        list: (orgId: string) => authed('get', '/auth/orgs/{org_id}/roles', { params: { org_id: orgId } }),
        create: (orgId: string, body: B<'post', '/auth/orgs/{org_id}/roles'>) => authed('post', '/auth/orgs/{org_id}/roles', { params: { org_id: orgId }, body }),
        delete: (orgId: string, roleId: string) => authed('delete', '/auth/orgs/{org_id}/roles/{role_id}', { params: { org_id: orgId, role_id: roleId } }),
      },
      policies: {
        list: (orgId: string) => authed('get', '/auth/orgs/{org_id}/policies', { params: { org_id: orgId } }),
        create: (orgId: string, body: B<'post', '/auth/orgs/{org_id}/policies'>) => authed('post', '/auth/orgs/{org_id}/policies', { params: { org_id: orgId }, body }),
        delete: (orgId: string, policyId: string) => authed('delete', '/auth/orgs/{org_id}/policies/{policy_id}', { params: { org_id: orgId, policy_id: policyId } }),
      },
      invites: {
        list: (orgId: string) => authed('get', '/auth/orgs/{org_id}/invites', { params: { org_id: orgId } }),
        create: (orgId: string, body: B<'post', '/auth/orgs/{org_id}/invites'>) => authed('post', '/auth/orgs/{org_id}/invites', { params: { org_id: orgId }, body }),
        delete: (orgId: string, inviteId: string) => authed('delete', '/auth/orgs/{org_id}/invites/{invite_id}', { params: { org_id: orgId, invite_id: inviteId } }),
        accept: (token: string) => authed('post', '/auth/invites/accept', { body: { token } }),
      },
    },
    /** May the signed-in user do `action` (on `resource`, in the active or given org)? */
    authorize: (body: B<'post', '/auth/authorize'>) => authed('post', '/auth/authorize', { body }),
    permissions: (body: B<'post', '/auth/permissions'> = {} as B<'post', '/auth/permissions'>) => authed('post', '/auth/permissions', { body }),
  };
}
