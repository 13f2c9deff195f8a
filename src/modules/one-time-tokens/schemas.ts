import { z } from 'zod';
import { Email } from '../users/schemas.js';

/** The body of the three "mail me a link" routes. */
export const EmailLinkRequest = z.object({
  email: Email.describe('the address to mail; one address, no display name'),
  redirectUrl: z.string().min(1).max(2048).optional()
    .describe('where the link should point instead of this API: must be exactly one of the tenant\'s redirectUrls; the token is added as ?token=…'),
}).strict().meta({ id: 'EmailLinkRequest' });

/** A token taken from an emailed link (43 characters; anything else is refused with 401). */
export const LinkToken = z.string().min(1, 'is required').max(512, 'must be at most 512 characters')
  .describe('the token from the emailed link (its ?token= value)');

export const EmailLinkToken = z.object({ token: LinkToken }).strict().meta({ id: 'EmailLinkToken' });

export const MailAccepted = z.object({
  message: z.string().describe('always the same, whether or not the address has an account'),
}).meta({ id: 'MailAccepted' });
