import { describe, expect, it } from 'vitest';
import { countAuditEvent } from './audit-metrics.js';
import { lockouts, mfaChallenges, signInAttempts } from './registry.js';

const read = () => ({
  pwFail: signInAttempts.labels('password', 'failure').value,
  passkeyOk: signInAttempts.labels('passkey', 'success').value,
  linkFail: signInAttempts.labels('magic_link', 'failure').value,
  other: signInAttempts.labels('other', 'success').value,
  mfaRequired: signInAttempts.labels('password', 'mfa_required').value,
  issued: mfaChallenges.labels('issued').value,
  completed: mfaChallenges.labels('completed').value,
  failed: mfaChallenges.labels('failed').value,
  address: lockouts.labels('address').value,
  account: lockouts.labels('account').value,
  ban: lockouts.labels('ban').value,
});

describe('countAuditEvent', () => {
  it('counts sign-ins, MFA challenges and lockouts from the audit events that record them, with bounded labels', () => {
    const before = read();
    countAuditEvent({ action: 'user.login', outcome: 'failure', metadata: { method: 'password', email: 'a@example.com' } });
    countAuditEvent({ action: 'user.login', outcome: 'success', metadata: { method: 'passkey' } });
    // A method outside the fixed set is `other`, never a new label value.
    countAuditEvent({ action: 'user.signup', outcome: 'success', metadata: { method: 'made-up-by-a-client' } });
    countAuditEvent({ action: 'user.signup', outcome: 'failure', metadata: { reason: 'email_taken' } });
    countAuditEvent({ action: 'magic_link.verify', outcome: 'failure' });
    countAuditEvent({ action: 'magic_link.verify', outcome: 'success' }); // goes on to user.login
    countAuditEvent({ action: 'auth.mfa_required', outcome: 'success', metadata: { method: 'password' } });
    countAuditEvent({ action: 'mfa.step_up_required', outcome: 'denied' });
    countAuditEvent({ action: 'mfa.login', outcome: 'success' });
    countAuditEvent({ action: 'mfa.challenge.complete', outcome: 'failure' });
    countAuditEvent({ action: 'mfa.rate_limited', outcome: 'denied', metadata: { flow: 'mfa.login' } });
    countAuditEvent({ action: 'mfa.enable', outcome: 'success' }); // enrolment, not a challenge
    countAuditEvent({ action: 'rate_limit.lockout', outcome: 'denied' });
    countAuditEvent({ action: 'rate_limit.account_throttle', outcome: 'denied' });
    countAuditEvent({ action: 'rate_limit.ban', outcome: 'denied' });
    const after = read();
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
    expect(delta).toEqual({ pwFail: 1, passkeyOk: 1, linkFail: 1, other: 1, mfaRequired: 1, issued: 2, completed: 1, failed: 2, address: 1, account: 1, ban: 1 });
  });
});
