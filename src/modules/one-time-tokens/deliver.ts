import type { Config } from '../../config.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { Mailer } from '../mail/mailer.js';
import type { Tenant } from '../tenants/schemas.js';
import { linkFor, linkMail, MAIL_ACCEPTED } from './mail.js';
import { TOKEN_TTL_MS, type OneTimeTokens } from './service.js';
import type { TokenPurpose } from './store.js';

export interface LinkDeps {
  config: Readonly<Config>;
  tokens: OneTimeTokens;
  mailer: Mailer;
  audit: AuditService;
}

export interface LinkRequest {
  tenant: Tenant;
  purpose: TokenPurpose;
  /** the address as the caller sent it */
  email: string;
  /** who gets a mail: null when nobody should (unknown, disabled, …) — `refusal` says why, for the audit only */
  recipient: { to: string; userId: string | null } | null;
  refusal?: string;
  /** the route the default link points at, under the base path */
  path: string;
  redirectUrl?: string;
  /** `ignore`: the line telling a reader who did not ask for the mail that ignoring it is safe */
  mail: { subject: string; intro: string; action: string; ignore: string };
  auditAction: string;
  ctx: AuditContext;
}

/**
 * The shared tail of the three "mail me a link" flows. Known and unknown addresses take the same
 * steps — the mail cap, one token transaction, one audit row — and the mail leaves in the background,
 * so neither the answer nor its timing says whether an account exists (SECURITY PWD-05, ML-01).
 */
export async function deliverLink(d: LinkDeps, r: LinkRequest): Promise<typeof MAIL_ACCEPTED> {
  const { tenant } = r;
  let outcome = r.recipient ? 'sent' : (r.refusal ?? 'no_account');
  // Over the cap nothing is written either: a flood of requests must not keep retiring the link the
  // owner was mailed last (SECURITY ML-04).
  if (await d.tokens.mayMail(tenant.id, r.purpose, r.email)) {
    const token = await d.tokens.issue(tenant.id, { purpose: r.purpose, email: r.recipient?.to ?? r.email, userId: r.recipient?.userId ?? null, issue: !!r.recipient });
    if (token && r.recipient) {
      const link = linkFor({ publicUrl: d.config.publicUrl, basePath: d.config.basePath, path: r.path, token, redirectUrl: r.redirectUrl, ui: d.config.ui, tenantSlug: tenant.slug });
      d.mailer.sendInBackground(linkMail({ to: r.recipient.to, tenant, ...r.mail, link, ttlMinutes: TOKEN_TTL_MS[r.purpose] / 60_000 }));
    }
  } else if (r.recipient) {
    outcome = 'mail_cap_reached';
  }
  await d.audit.record({
    tenantId: tenant.id, actor: { type: 'anonymous', id: null }, target: r.recipient?.userId ?? null,
    action: r.auditAction, outcome: 'success', ...r.ctx, metadata: { email: r.email, outcome },
  });
  return MAIL_ACCEPTED;
}
