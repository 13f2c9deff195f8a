import * as jose from 'jose';
import type { Sql } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { deriveKey, open, seal, sha256Hex } from '../../lib/crypto.js';

/** Longest access-token lifetime a tenant may set: a superseded key verifies at least this long. */
export const MAX_ACCESS_TTL_SECONDS = 86_400;
const RELOAD_CHANNEL = 'signing-keys:rotated';
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 5_000;

interface KeyRow { kid: string; alg: string; public_jwk: jose.JWK; private_sealed: string; created_at: Date; superseded_at: Date | null; retire_at: Date | null }

export interface VerifyKey { kid: string; alg: 'EdDSA' | 'HS256'; key: jose.CryptoKey | Uint8Array; retireAt: number | null }

export type SigningKeys = Awaited<ReturnType<typeof createSigningKeys>>;

/**
 * The access-token key set. EdDSA: Ed25519 pairs in Postgres, private halves sealed with a key derived
 * from AUTH_SECRET; the newest is active, superseded ones verify until retirement (rotation logs nobody
 * out). HS256: one key from JWT_SECRET, nothing published. Verification only ever uses keys from here —
 * never a key named by the token header (jwk, jku, x5u, x5c).
 */
export async function createSigningKeys(deps: { sql: Sql; kv: Kv; clock: Clock; alg: 'EdDSA' | 'HS256'; authSecret: string; jwtSecret?: string }) {
  const { sql, kv, clock, alg } = deps;
  const sealKey = deriveKey(deps.authSecret, 'signing-keys');
  let keys = new Map<string, VerifyKey>();
  let active: { kid: string; key: jose.CryptoKey | Uint8Array } | null = null;
  // The active key's private JWK, for the OpenID Provider's keystore (src/modules/oidc-provider).
  let activeJwk: jose.JWK | null = null;
  let publicJwks: jose.JWK[] = [];
  let lastReload = 0;
  let loading: Promise<void> | null = null;

  /** Reloads the key set; concurrent callers share one query (a burst of unknown kids costs one SELECT). */
  function load(): Promise<void> {
    if (!loading) loading = loadNow().finally(() => { loading = null; });
    return loading;
  }

  async function loadNow(): Promise<void> {
    if (alg === 'HS256') {
      const secret = new TextEncoder().encode(deps.jwtSecret!);
      const kid = `hs-${sha256Hex(deps.jwtSecret!).slice(0, 16)}`;
      keys = new Map([[kid, { kid, alg, key: secret, retireAt: null }]]);
      active = { kid, key: secret };
      return;
    }
    const rows = await sql.tx(null, async (tx) => (await tx.query<KeyRow>(
      `SELECT * FROM signing_keys WHERE alg = 'EdDSA' AND (retire_at IS NULL OR retire_at > $1) ORDER BY created_at DESC`, [clock.now()])).rows);
    const next = new Map<string, VerifyKey>();
    const jwks: jose.JWK[] = [];
    for (const r of rows) {
      const pub = await jose.importJWK(r.public_jwk, 'EdDSA') as jose.CryptoKey;
      next.set(r.kid, { kid: r.kid, alg: 'EdDSA', key: pub, retireAt: r.retire_at ? new Date(r.retire_at).getTime() : null });
      jwks.push({ kty: r.public_jwk.kty, crv: r.public_jwk.crv, x: r.public_jwk.x, kid: r.kid, alg: 'EdDSA', use: 'sig' });
    }
    const newest = rows.find((r) => !r.superseded_at);
    if (newest) {
      const pem = open(sealKey, newest.private_sealed, `signing-key:${newest.kid}`).toString('utf8');
      active = { kid: newest.kid, key: await jose.importPKCS8(pem, 'EdDSA') };
      const exportable = await jose.importPKCS8(pem, 'EdDSA', { extractable: true });
      activeJwk = { ...(await jose.exportJWK(exportable)), kid: newest.kid, alg: 'EdDSA', use: 'sig' };
    } else {
      active = null;
      activeJwk = null;
    }
    keys = next;
    publicJwks = jwks;
    lastReload = Date.now();
  }

  /** Inserts a new active key and supersedes the others; returns its kid. */
  async function rotate(): Promise<string> {
    if (alg === 'HS256') throw new Error('JWT_ALG=HS256 uses JWT_SECRET; rotate it by changing the secret');
    const { publicKey, privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    const kid = (await jose.calculateJwkThumbprint(jwk)).slice(0, 16);
    const pem = await jose.exportPKCS8(privateKey);
    const now = clock.now();
    await sql.tx(null, async (tx) => {
      await tx.query('UPDATE signing_keys SET superseded_at = $1, retire_at = $2 WHERE superseded_at IS NULL',
        [now, new Date(now.getTime() + (MAX_ACCESS_TTL_SECONDS + 300) * 1000)]);
      await tx.query('INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, created_at) VALUES ($1, $2, $3, $4, $5)',
        [kid, 'EdDSA', JSON.stringify(jwk), seal(sealKey, pem, `signing-key:${kid}`), now]);
    });
    await load();
    await kv.publish(RELOAD_CHANNEL, kid).catch(() => {});
    return kid;
  }

  await load();
  if (!active && alg === 'EdDSA') {
    // First start: make the first key. Two instances racing both insert a key; the newer one wins, the
    // other stays valid as superseded, and the reload below lets each pick up the winner.
    await rotate();
  }
  const unsubscribe = await kv.subscribe(RELOAD_CHANNEL, () => { void load().catch(() => {}); });
  const timer = setInterval(() => { void load().catch(() => {}); }, 60_000);
  timer.unref();

  return {
    alg,
    /** The active signing key. */
    signer(): { kid: string; key: jose.CryptoKey | Uint8Array } {
      if (!active) throw new Error('no active signing key');
      return active;
    },
    /**
     * The active Ed25519 key as a private JWK (kid, alg EdDSA), for the OpenID Provider's keystore;
     * null in HS256 mode. Never serialise it anywhere else.
     */
    activePrivateJwk(): jose.JWK | null {
      return activeJwk;
    },
    /** The verification key for `kid`; reloads (at most every 5 s) for an unknown kid minted by another instance. */
    async lookup(kid: string): Promise<VerifyKey | null> {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) return null;
      let k = keys.get(kid);
      if (!k && Date.now() - lastReload > UNKNOWN_KID_RELOAD_INTERVAL_MS) {
        await load();
        k = keys.get(kid);
      }
      if (!k || (k.retireAt !== null && k.retireAt <= clock.nowMs())) return null;
      return k;
    },
    /** Whether `kid` still verifies now (known and not retired); synchronous, for the verified-token cache. */
    usable(kid: string): boolean {
      const k = keys.get(kid);
      return !!k && (k.retireAt === null || k.retireAt > clock.nowMs());
    },
    /** Public keys for /.well-known/jwks.json (empty in HS256 mode). */
    jwks(): { keys: jose.JWK[] } {
      return { keys: publicJwks.filter((j) => { const k = keys.get(j.kid!); return k && (k.retireAt === null || k.retireAt > clock.nowMs()); }) };
    },
    rotate,
    reload: load,
    async stop() {
      clearInterval(timer);
      await unsubscribe().catch(() => {});
    },
  };
}
