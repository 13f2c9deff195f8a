import { AppError } from '../../http/errors.js';
import { actorOf } from '../../http/principal.js';
import { SHOWN_ONCE, toApiKeyInfo } from '../api-keys/schemas.js';
import {
  CreateApiKeyInput, CreateApiKeyOutput, ListApiKeysOutput, ListSessionsOutput, NoArguments, RevokeApiKeyInput,
  RevokeByIdInput, RevokedOutput,
} from './schemas.js';
import { requireToolStepUp } from './step-up.js';
import { defineTool, freshUserOf, READ_ONLY, userOf, type ToolDef, type ToolDeps } from './tool.js';
import { toSessionBody } from '../sessions/schemas.js';

/** The user's sessions and API keys. Mutating tools re-check the session now and pass the TOTP gate where REST does. */
export function credentialTools(d: ToolDeps): ToolDef[] {
  const gate = { gate: d.mfa.gate, audit: d.audit, basePath: d.config.basePath };
  const list = <T>(items: T[]) => ({ items, total: items.length, limit: items.length, offset: 0 });

  return [
    defineTool({
      name: 'list_sessions', title: 'List my sessions',
      description: 'The user\'s live sessions, without token material (as GET /auth/sessions); `current` marks the calling token\'s session.',
      input: NoArguments, output: ListSessionsOutput, annotations: READ_ONLY, callers: 'user',
      async run(c) {
        const p = userOf(c);
        const sessions = await d.sessions.list(p.tenantId, p.userId);
        return list(sessions.map((s) => toSessionBody(s, p.sessionId)));
      },
    }),

    defineTool({
      name: 'revoke_session', title: 'End one of my sessions',
      description: 'Ends one of the user\'s sessions on every instance at once (as DELETE /auth/sessions/{id}); not_found for an unknown id or another user\'s session. Ending the calling token\'s own session makes this token stop working.',
      input: RevokeByIdInput('a session id'), output: RevokedOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false }, callers: 'user',
      async run(c, args) {
        const p = await freshUserOf(d, c);
        await d.sessions.endOwn({ tenantId: p.tenantId, userId: p.userId, actor: actorOf(p) }, args.id, { ...c.ctx, via: 'mcp' });
        return { revoked: true as const, id: args.id };
      },
    }),

    defineTool({
      name: 'list_api_keys', title: 'List my API keys',
      description: 'The user\'s API keys: prefix and metadata only, never the key (as GET /auth/api-keys).',
      input: NoArguments, output: ListApiKeysOutput, annotations: READ_ONLY, callers: 'user',
      async run(c) {
        return list((await d.apiKeys.list(userOf(c))).map(toApiKeyInfo));
      },
    }),

    defineTool({
      name: 'create_api_key', title: 'Create an API key',
      description: 'Creates an API key for the user (as POST /auth/api-keys): {name, scopes: ["assets:read" | "assets:*" | "*"], expiresInDays?, orgId?}. The key (ck_…) is in this result only. Sensitive: for a user with MFA whose session has not stepped up in the last 5 minutes the result is {"error":"totp_required","challenge":"ch_…"}; complete it with POST /auth/totp/complete {challenge, code} and call again with "totpChallenge".',
      input: CreateApiKeyInput, output: CreateApiKeyOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }, callers: 'user',
      async run(c, args) {
        const p = await freshUserOf(d, c);
        const { totpChallenge, ...input } = args;
        await requireToolStepUp(gate, { tenant: c.tenant, principal: p, tool: 'create_api_key', challenge: totpChallenge, ctx: c.ctx, viaOAuth: c.caller.kind === 'oauth' });
        const issued = await d.apiKeys.create(p, input, c.ctx);
        return { ...toApiKeyInfo(issued.key), apiKey: issued.plaintext, message: SHOWN_ONCE };
      },
    }),

    defineTool({
      name: 'revoke_api_key', title: 'Revoke one of my API keys',
      description: 'Revokes one of the user\'s API keys on every instance at once (as DELETE /auth/api-keys/{id}); not_found for an unknown id or another user\'s key. Sensitive: the same TOTP round trip as create_api_key (the challenge is bound to this key id).',
      input: RevokeApiKeyInput, output: RevokedOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false }, callers: 'user',
      async run(c, args) {
        const p = await freshUserOf(d, c);
        await requireToolStepUp(gate, { tenant: c.tenant, principal: p, tool: 'revoke_api_key', target: args.id.toLowerCase(), challenge: args.totpChallenge, ctx: c.ctx, viaOAuth: c.caller.kind === 'oauth' });
        if (!(await d.apiKeys.revoke(p, args.id, c.ctx))) throw new AppError('not_found', 'No such API key.');
        return { revoked: true as const, id: args.id };
      },
    }),
  ];
}
