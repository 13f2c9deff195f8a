/** Who a request acts as, set by the credential guard (`req.auth`). */
export interface SessionPrincipal {
  kind: 'session';
  tenantId: string;
  userId: string;
  sessionId: string;
  jti: string;
  amr: string[];
  orgId: string | null;
  roles: string[];
  /**
   * ms epoch of the sign-in that started this session (a refresh or an MFA step-up does not move it);
   * null when no session of ours stands behind the principal (an OAuth access token at /mcp).
   */
  authTime: number | null;
  /** ms epoch of the last MFA step-up of this session, or null. */
  stepUpAt: number | null;
  /** true when the access token came from the `__Host-ap_access` cookie (CSRF rules apply). */
  viaCookie: boolean;
  /** the verified token's expiry, ms epoch. */
  expiresAt: number;
}

export interface ApiKeyPrincipal {
  kind: 'apiKey';
  tenantId: string;
  userId: string;
  keyId: string;
  scopes: string[];
  orgId: string | null;
}

export interface AdminPrincipal {
  kind: 'admin';
  keyId: string;
  name: string;
}

export interface McpServicePrincipal {
  kind: 'mcpService';
}

export type Principal = SessionPrincipal | ApiKeyPrincipal | AdminPrincipal | McpServicePrincipal;

/** A user-level principal (session or user API key). */
export type UserPrincipal = SessionPrincipal | ApiKeyPrincipal;

export const isUserPrincipal = (p: Principal | null | undefined): p is UserPrincipal =>
  !!p && (p.kind === 'session' || p.kind === 'apiKey');

/** The audit actor of a principal. */
export function actorOf(p: Principal | null | undefined): { type: string; id: string | null } {
  if (!p) return { type: 'anonymous', id: null };
  switch (p.kind) {
    case 'session': return { type: 'user', id: p.userId };
    case 'apiKey': return { type: 'api_key', id: p.keyId };
    case 'admin': return { type: 'admin_key', id: p.keyId };
    case 'mcpService': return { type: 'mcp_service', id: null };
  }
}
