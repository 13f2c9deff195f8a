import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import type { Sql, Tx } from '../../db/sql.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SignIn, SignInResult } from '../sessions/sign-in.js';
import type { Tenant } from '../tenants/schemas.js';
import { publicUser, userStore, type User } from '../users/store.js';
import { buildSiwsMessage, decodeBase58, STATEMENTS } from './message.js';
import { solanaStore, type NoncePurpose, type SolanaNonce } from './store.js';
import { lockAndCountSignInMethods } from './sign-in-methods.js';
import type { SolanaWallet } from './schemas.js';
import type { Events } from '../webhooks/events.js';

export const CHALLENGE_TTL_MS = 5 * 60_000;

export type SolanaService = ReturnType<typeof createSolanaService>;

/** Thrown inside a transaction to roll it back when a racer created the same wallet first. */
class LostCreateRace extends Error {}

/**
 * Sign-In With Solana: issues challenges (stored in Postgres, single use, 5 minutes), verifies the
 * Ed25519 signature over the exact stored message, and hands the user to the one sign-in path.
 */
export function createSolanaService(deps: { sql: Sql; clock: Clock; audit: AuditService; signIn: SignIn; publicUrl: string; events?: Events }) {
  const { sql, clock, audit, signIn, events } = deps;
  const url = new URL(deps.publicUrl);
  // The domain and URI come from PUBLIC_URL only, never from Host or X-Forwarded-Host (SOL-01).
  const domain = url.host;
  const uri = deps.publicUrl;

  /** The live challenge whose exact message this key signed, or null. */
  function matching(live: SolanaNonce[], publicKey: string, signature: string): SolanaNonce | null {
    const pk = decodeBase58(publicKey);
    const sig = decodeBase58(signature);
    if (pk?.length !== 32 || sig?.length !== 64) return null;
    for (const n of live) {
      // The stored text, byte for byte: a message altered in any way (domain, nonce, a trailing
      // newline) has other bytes, so its signature does not verify here (SOL-02).
      if (nacl.sign.detached.verify(new TextEncoder().encode(n.message), sig, pk)) return n;
    }
    return null;
  }

  /** Verifies and consumes (one guarded UPDATE: one racer wins) a challenge of this purpose. */
  async function consumeSigned(tx: Tx, input: { publicKey: string; signature: string }, purpose: NoncePurpose, owner?: SessionPrincipal): Promise<SolanaNonce | null> {
    const now = clock.now();
    let live = await solanaStore.liveFor(tx, input.publicKey, purpose, now);
    if (owner) live = live.filter((n) => n.userId === owner.userId && n.sessionId === owner.sessionId);
    const n = matching(live, input.publicKey, input.signature);
    if (!n) return null;
    return (await solanaStore.consume(tx, n.id, now)) ? n : null;
  }

  const refused = () => new AppError('invalid_credentials', 'The signature does not match a live challenge for this public key; request a new challenge and sign its message exactly.');

  return {
    /** Issues a challenge; `link` challenges need a session and are bound to it. */
    async challenge(tenant: Tenant, input: { publicKey: string; purpose?: NoncePurpose }, principal: SessionPrincipal | null): Promise<{ nonce: string; message: string; expiresAt: string }> {
      const purpose = input.purpose ?? 'signin';
      if (purpose === 'link' && !principal) throw new AppError('unauthorized', 'A link challenge needs a signed-in session (Authorization: Bearer <access token>).');
      const now = clock.now();
      const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_MS);
      // 128 bits, hex: alphanumeric as the SIWS ABNF wants for Nonce.
      const nonce = randomBytes(16).toString('hex');
      const message = buildSiwsMessage({ domain, address: input.publicKey, statement: STATEMENTS[purpose], uri, nonce, issuedAt: now, expirationTime: expiresAt });
      await sql.tx(tenant.id, async (tx) => {
        await solanaStore.prune(tx, input.publicKey, now);
        await solanaStore.insertNonce(tx, {
          tenantId: tenant.id, publicKey: input.publicKey, nonce, message, purpose,
          userId: purpose === 'link' ? principal!.userId : null, sessionId: purpose === 'link' ? principal!.sessionId : null, now, expiresAt,
        });
      });
      return { nonce, message, expiresAt: expiresAt.toISOString() };
    },

    /** Signs in with a signed sign-in challenge; creates the wallet's user on first use. */
    async signIn(tenant: Tenant, input: { publicKey: string; signature: string }, ctx: AuditContext): Promise<SignInResult> {
      const run = () => sql.tx(tenant.id, async (tx): Promise<{ user: User; isNewUser: boolean } | null> => {
        const n = await consumeSigned(tx, input, 'signin');
        if (!n) return null;
        const now = clock.now();
        const wallet = await solanaStore.walletByKey(tx, input.publicKey);
        if (wallet) {
          const user = await userStore.byId(tx, wallet.userId);
          if (!user) return null;
          await solanaStore.touchWallet(tx, wallet.id, now);
          return { user: publicUser(user), isNewUser: false };
        }
        const user = await userStore.insert(tx, { tenantId: tenant.id, email: null, now });
        if (!user) throw new Error('inserting a user without email cannot conflict');
        // Two first sign-ins with one new wallet: the unique index lets one create it; the other
        // rolls back (its user and its nonce use) and retries, then finds the winner's wallet.
        if (!(await solanaStore.insertWallet(tx, { tenantId: tenant.id, userId: user.id, publicKey: input.publicKey, now }))) throw new LostCreateRace();
        await events?.emit(tx, tenant.id, 'user.created', { userId: user.id, email: null, method: 'solana' });
        return { user: { ...publicUser(user), solanaPublicKey: input.publicKey }, isNewUser: true };
      });
      let found: { user: User; isNewUser: boolean } | null;
      try {
        found = await run();
      } catch (err) {
        if (!(err instanceof LostCreateRace)) throw err;
        found = await run();
      }
      if (!found) {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'user.login', outcome: 'failure', ...ctx, metadata: { method: 'solana', publicKey: input.publicKey, reason: 'bad_signature_or_challenge' } });
        throw refused();
      }
      return signIn.complete({ tenant, user: found.user, amr: ['swk'], method: 'solana', ctx, isNewUser: found.isNewUser });
    },

    /** Links a wallet to the signed-in user with a signed link challenge issued to this session. */
    async link(tenant: Tenant, p: SessionPrincipal, input: { publicKey: string; signature: string }, ctx: AuditContext): Promise<SolanaWallet> {
      type Outcome = { kind: 'refused' } | { kind: 'taken' } | { kind: 'has_other' } | { kind: 'ok'; createdAt: Date; already: boolean };
      const outcome = await sql.tx(tenant.id, async (tx): Promise<Outcome> => {
        if (!(await consumeSigned(tx, input, 'link', p))) return { kind: 'refused' };
        const now = clock.now();
        const existing = await solanaStore.walletByKey(tx, input.publicKey);
        if (existing) return existing.userId === p.userId ? { kind: 'ok', createdAt: existing.createdAt, already: true } : { kind: 'taken' };
        if (await solanaStore.walletOfUser(tx, p.userId)) return { kind: 'has_other' };
        const w = await solanaStore.insertWallet(tx, { tenantId: tenant.id, userId: p.userId, publicKey: input.publicKey, now });
        return w ? { kind: 'ok', createdAt: w.createdAt, already: false } : { kind: 'taken' };
      });
      const actor = { type: 'user', id: p.userId };
      if (outcome.kind !== 'ok') {
        await audit.record({ tenantId: tenant.id, actor, action: 'solana.link', outcome: 'failure', ...ctx, metadata: { publicKey: input.publicKey, reason: outcome.kind } });
        if (outcome.kind === 'refused') throw refused();
        throw new AppError('conflict', outcome.kind === 'taken'
          ? 'This wallet is already linked to another account.'
          : 'Your account already has a linked wallet; unlink it first (DELETE /solana/link).');
      }
      if (!outcome.already) await audit.record({ tenantId: tenant.id, actor, action: 'solana.link', target: input.publicKey, outcome: 'success', ...ctx });
      return { publicKey: input.publicKey, linkedAt: outcome.createdAt.toISOString() };
    },

    /** Unlinks the user's wallet, unless it is their last way to sign in. */
    async unlink(tenant: Tenant, p: SessionPrincipal, ctx: AuditContext): Promise<void> {
      const removed = await sql.tx(tenant.id, async (tx) => {
        const methods = await lockAndCountSignInMethods(tx, p.userId);
        const wallet = await solanaStore.walletOfUser(tx, p.userId);
        if (!wallet) throw new AppError('not_found', 'No wallet is linked to this account.');
        if ((methods ?? 0) <= 1) throw new AppError('conflict', 'This wallet is the only way to sign in to this account; add a passkey or another sign-in method before unlinking it.');
        return solanaStore.deleteWalletOfUser(tx, p.userId);
      });
      await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: p.userId }, action: 'solana.unlink', target: removed?.publicKey ?? null, outcome: 'success', ...ctx });
    },

    /** The user's linked wallet (publicKey null when none). */
    async wallet(tenant: Tenant, userId: string): Promise<SolanaWallet> {
      const w = await sql.tx(tenant.id, (tx) => solanaStore.walletOfUser(tx, userId));
      return { publicKey: w?.publicKey ?? null, linkedAt: w?.createdAt.toISOString() ?? null };
    },
  };
}
