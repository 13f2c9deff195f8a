import { lockouts, mfaChallenges, signInAttempts, type CounterFamily } from './registry.js';

/** What `countAuditEvent` reads of an audit event (src/modules/audit/service.ts AuditEvent). */
interface CountedEvent {
  action: string;
  outcome: 'success' | 'failure' | 'denied' | 'error';
  metadata?: Record<string, unknown>;
}

const SIGN_IN_METHODS = new Set(['password', 'magic_link', 'passkey', 'solana', 'oauth']);
const MFA_FLOWS = new Set(['mfa.login', 'mfa.challenge.complete', 'mfa.step_up']);

/** The family's series (each family keeps its children: a lookup by the joined label values). */
const child = (c: CounterFamily, ...values: string[]) => c.labels(...values);

const methodOf = (e: CountedEvent, fallback = 'other'): string => {
  const m = e.metadata?.method;
  return typeof m === 'string' && SIGN_IN_METHODS.has(m) ? m : fallback;
};

/**
 * Counts sign-in attempts, MFA challenges and lockouts from the audit events that record them, so each
 * is counted where it is decided and audited — one rule in one place — rather than in every sign-in
 * method. Called by the audit service once an event's row is committed; label values come from fixed
 * sets only (an unknown method is `other`).
 */
export function countAuditEvent(e: CountedEvent): void {
  switch (e.action) {
    case 'user.login':
      child(signInAttempts, methodOf(e), e.outcome).inc();
      return;
    case 'user.signup':
      // A sign-up through a sign-in method (its first sign-in) issues a session; a refused sign-up signs no one in.
      if (e.outcome === 'success') child(signInAttempts, methodOf(e), 'success').inc();
      return;
    case 'magic_link.verify':
      // A good link goes on to sign in (user.login); a refused one ends here.
      if (e.outcome !== 'success') child(signInAttempts, 'magic_link', e.outcome).inc();
      return;
    case 'oauth.callback':
      if (e.outcome !== 'success') child(signInAttempts, 'oauth', e.outcome).inc();
      return;
    case 'auth.mfa_required':
      child(signInAttempts, methodOf(e), 'mfa_required').inc();
      child(mfaChallenges, 'issued').inc();
      return;
    case 'mfa.step_up_required':
      child(mfaChallenges, 'issued').inc();
      return;
    case 'mfa.rate_limited':
      if (MFA_FLOWS.has(String(e.metadata?.flow))) child(mfaChallenges, 'failed').inc();
      return;
    case 'rate_limit.lockout':
      child(lockouts, 'address').inc();
      return;
    case 'rate_limit.account_throttle':
      child(lockouts, 'account').inc();
      return;
    case 'rate_limit.ban':
      child(lockouts, 'ban').inc();
      return;
    default:
      if (MFA_FLOWS.has(e.action)) child(mfaChallenges, e.outcome === 'success' ? 'completed' : 'failed').inc();
  }
}
