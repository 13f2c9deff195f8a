import { z } from 'zod';
import { Email } from '../users/schemas.js';
import { PASSWORD_MAX } from '../password/policy.js';

export const ChangeEmailBody = z.object({
  newEmail: Email.describe('the new address; a link to confirm it is mailed there'),
  currentPassword: z.string().min(1, 'must not be empty').max(PASSWORD_MAX * 4, `must be at most ${PASSWORD_MAX} characters`).optional()
    .describe('required when the account has a password'),
  redirectUrl: z.string().min(1).max(2048).optional()
    .describe('where the links should point instead of this API: must be exactly one of the tenant\'s redirectUrls; the token is added as ?token=…'),
}).strict().meta({ id: 'ChangeEmailBody' });

export const EmailChanged = z.object({
  email: z.string().describe('the new address (verified)'),
  emailVerified: z.literal(true),
  sessionsEnded: z.number().int().describe('how many sessions of the user were signed out (all but the caller\'s own, when it sent one)'),
  message: z.string(),
}).meta({ id: 'EmailChanged' });

export const EmailChangeCancelled = z.object({
  reverted: z.boolean().describe('true when the change had already been confirmed and the old address was put back'),
  pendingCancelled: z.number().int().describe('unconfirmed changes that were dropped'),
  sessionsEnded: z.number().int().describe('on a revert every session of the user ends'),
  message: z.string(),
}).meta({ id: 'EmailChangeCancelled' });
