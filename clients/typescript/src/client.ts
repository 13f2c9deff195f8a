import type { paths } from './generated/openapi.js';
import { AuthplaneError } from './errors.js';
import { send, type Body, type CallOptions, type Method, type Op, type PathsWith, type Success, type Transport } from './http.js';
import { memoryStorage, type RefreshTokenStorage } from './storage.js';
import { base58Encode } from './base58.js';
import { browserStartAuthentication, browserStartRegistration, type StartAuthentication, type StartRegistration } from './passkeys.js';
import { createResources } from './resources.js';

export type AuthResponse = Extract<Success<Op<'post', '/auth/login'>>, { tokens: unknown }>;
export type MfaRequired = Extract<Success<Op<'post', '/auth/login'>>, { mfaRequired: true }>;
/** A sign-in either completes (tokens) or asks for the second factor (`mfaRequired`). */
export type SignInResult = AuthResponse | MfaRequired;
export type Tokens = AuthResponse['tokens'];
type UserAnswer = Success<Op<'get', '/auth/user'>>;
/** GET /auth/user answers `{user}` (API 0.1) or the user at the top level (0.2, Cedros); both read as the user. */
export type User = UserAnswer extends { user: infer U } ? U : UserAnswer;

/** What `onTotpRequired` is told: the challenge and the request it gates. */
export interface TotpGate { challenge: string; method: string; path: string }

export interface AuthplaneClientOptions {
  /** The server's origin (or origin + prefix), e.g. `https://auth.example.com`; paths start with `/auth`. */
  baseUrl: string;
  /** Tenant id or slug, sent as `X-Tenant-ID`; omit for the default tenant. */
  tenant?: string;
  /** Where the refresh token is kept (default: memory). The access token always stays in memory. */
  storage?: RefreshTokenStorage;
  /**
   * A sensitive route answered `totp_required`: return the user's current TOTP code (or null to give up).
   * The client completes the challenge and repeats the request once with `X-TOTP-Challenge`.
   */
  onTotpRequired?: (gate: TotpGate) => Promise<string | null> | string | null;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests); default `Date.now`. */
  now?: () => number;
  /** Refresh this long before the access token's expiry (default 30 s). */
  refreshLeewaySeconds?: number;
}

/** Narrows a sign-in result to the MFA step. */
export const isMfaRequired = (r: SignInResult): r is MfaRequired => (r as MfaRequired).mfaRequired === true;

/** Creates a client for one user session against one Authplane server. */
export function createAuthplaneClient(o: AuthplaneClientOptions) {
  const transport: Transport = { baseUrl: o.baseUrl, fetch: o.fetch ?? ((...a) => globalThis.fetch(...a)) };
  const storage = o.storage ?? memoryStorage();
  const now = o.now ?? Date.now;
  const leewayMs = (o.refreshLeewaySeconds ?? 30) * 1000;
  let access: { token: string; expiresAt: number } | null = null;
  let refreshing: Promise<Tokens> | null = null;

  const tenantHeaders = (): Record<string, string> => (o.tenant ? { 'x-tenant-id': o.tenant } : {});
  const notSignedIn = () => new AuthplaneError(401, { error: 'unauthorized', message: 'Not signed in' });

  /** A call without a credential (sign-in routes, links). */
  function call<M extends Method, P extends PathsWith<M>>(method: M, path: P, opts: CallOptions<Op<M, P>> = {}) {
    return send(transport, method, path, { ...opts, headers: { ...tenantHeaders(), ...opts.headers } });
  }

  async function accept(r: SignInResult): Promise<SignInResult> {
    if (!isMfaRequired(r)) {
      access = { token: r.tokens.accessToken, expiresAt: now() + r.tokens.expiresIn * 1000 };
      await storage.set(r.tokens.refreshToken);
    }
    return r;
  }

  async function clear(): Promise<void> {
    access = null;
    await storage.set(null);
  }

  /**
   * Rotates the refresh token. Single-flight: concurrent callers share one `/refresh`, so a burst of
   * requests never presents the same refresh token twice (which the server treats as reuse).
   */
  function refresh(): Promise<Tokens> {
    refreshing ??= (async () => {
      const refreshToken = await storage.get();
      if (!refreshToken) throw notSignedIn();
      try {
        const r = await call('post', '/auth/refresh', { body: { refreshToken } });
        await accept(r as SignInResult);
        return (r as AuthResponse).tokens;
      } catch (e) {
        // The session is gone (revoked, expired, reused): forget it. `refresh_token_rotated` means another
        // holder of the same storage rotated first; its new token is already stored, so keep it.
        if (e instanceof AuthplaneError && e.status === 401 && e.code !== 'refresh_token_rotated') await clear();
        throw e;
      }
    })().finally(() => { refreshing = null; });
    return refreshing;
  }

  /** The current access token, refreshed first when it expires within the leeway. */
  async function getAccessToken(): Promise<string> {
    if (access && access.expiresAt - leewayMs > now()) return access.token;
    if (!(await storage.get())) throw notSignedIn();
    return (await refresh()).accessToken;
  }

  /**
   * A call with the access token. An expired or unknown token is refreshed once and the call repeated;
   * a `totp_required` answer goes to `onTotpRequired`, and the call is repeated with the completed challenge.
   */
  async function authed<M extends Method, P extends PathsWith<M>>(method: M, path: P, opts: CallOptions<Op<M, P>> = {}): Promise<Success<Op<M, P>>> {
    let token = await getAccessToken();
    let refreshed = false;
    let challenge: string | null = null;
    for (;;) {
      const gate: Record<string, string> = challenge ? { 'x-totp-challenge': challenge } : {};
      try {
        return await send(transport, method, path, { ...opts, headers: { ...tenantHeaders(), ...opts.headers, ...gate, authorization: `Bearer ${token}` } });
      } catch (e) {
        if (!(e instanceof AuthplaneError)) throw e;
        if (!refreshed && (e.code === 'token_expired' || e.code === 'invalid_token') && (await storage.get())) {
          refreshed = true;
          token = (await refresh()).accessToken;
          continue;
        }
        if (e.code === 'totp_required' && e.challenge && o.onTotpRequired && !challenge) {
          const code = await o.onTotpRequired({ challenge: e.challenge, method: method.toUpperCase(), path: fill(path as string, opts.params) });
          if (!code) throw e;
          await send(transport, 'post', '/auth/totp/complete', {
            body: { challenge: e.challenge, code }, headers: { ...tenantHeaders(), authorization: `Bearer ${token}` },
          });
          challenge = e.challenge;
          continue;
        }
        throw e;
      }
    }
  }

  const signIn = async <M extends Method, P extends PathsWith<M>>(method: M, path: P, opts: CallOptions<Op<M, P>>) =>
    accept((await call(method, path, opts)) as SignInResult);

  return {
    /** Creates an account and signs it in. */
    register: async (body: Body<Op<'post', '/auth/register'>>) => (await signIn('post', '/auth/register', { body })) as AuthResponse,
    /** Email + password; an MFA user gets `{mfaRequired, mfaToken}` to pass to `loginMfa`. */
    login: (body: Body<Op<'post', '/auth/login'>>) => signIn('post', '/auth/login', { body }),
    /** Completes an MFA sign-in with a TOTP `code` or a `recoveryCode`. */
    loginMfa: async (body: Body<Op<'post', '/auth/login/mfa'>>) => (await signIn('post', '/auth/login/mfa', { body })) as AuthResponse,
    refresh,
    getAccessToken,
    /** Whether a refresh token is held (the session may still have been revoked server-side). */
    isSignedIn: async () => !!access || !!(await storage.get()),
    /** Ends the session on the server (when there is one) and forgets the tokens either way. */
    async logout(): Promise<void> {
      try {
        if (access || (await storage.get())) await authed('post', '/auth/logout');
      } catch (e) {
        if (!(e instanceof AuthplaneError && e.status === 401)) throw e;
      } finally {
        await clear();
      }
    },
    /** The signed-in user. */
    async getUser(): Promise<User> {
      const d = (await authed('get', '/auth/user')) as unknown as Record<string, unknown>;
      return (d.user && typeof d.user === 'object' && !('id' in d) ? d.user : d) as User;
    },
    magicLink: {
      /** Mails a sign-in link (the answer is the same whether or not the address is known). */
      request: (body: Body<Op<'post', '/auth/instant-link'>>) => call('post', '/auth/instant-link', { body }),
      /** Signs in with the token from the link. */
      verify: (token: string) => signIn('post', '/auth/instant-link/verify', { body: { token } }),
    },
    /**
     * Sign-In-With-Solana: asks for a challenge, lets the wallet sign its exact UTF-8 bytes
     * (`signMessage` returns the 64-byte signature, or it in base58), then signs in.
     */
    async signInWithSolana(a: { publicKey: string; signMessage: (message: Uint8Array, text: string) => Promise<Uint8Array | string> }): Promise<SignInResult> {
      const ch = await call('post', '/auth/solana/challenge', { body: { publicKey: a.publicKey } });
      const sig = await a.signMessage(new TextEncoder().encode(ch.message), ch.message);
      return signIn('post', '/auth/solana', { body: { publicKey: a.publicKey, signature: typeof sig === 'string' ? sig : base58Encode(sig) } });
    },
    passkeys: {
      /**
       * Registers a passkey for the signed-in user. `startRegistration` runs the browser ceremony
       * (`@simplewebauthn/browser`'s function fits); default: the browser's WebAuthn JSON API.
       */
      async register(a: { name?: string; startRegistration?: StartRegistration } = {}) {
        const optionsJSON = await authed('post', '/auth/passkeys/register/options');
        const credential = await (a.startRegistration ?? browserStartRegistration)({ optionsJSON });
        return authed('post', '/auth/passkeys/register/verify', { body: { ...credential, ...(a.name ? { name: a.name } : {}) } as Body<Op<'post', '/auth/passkeys/register/verify'>> });
      },
      /** Signs in with a passkey (`email` limits the ceremony to that user's passkeys). */
      async signIn(a: { email?: string; startAuthentication?: StartAuthentication } = {}): Promise<SignInResult> {
        const optionsJSON = await call('post', '/auth/passkeys/login/options', { body: a.email ? { email: a.email } : {} });
        const credential = await (a.startAuthentication ?? browserStartAuthentication)({ optionsJSON });
        return signIn('post', '/auth/passkeys/login/verify', { body: credential as Body<Op<'post', '/auth/passkeys/login/verify'>> });
      },
      list: () => authed('get', '/auth/passkeys'),
      delete: (id: string) => authed('delete', '/auth/passkeys/{id}', { params: { id } }),
    },
    ...createResources(authed, { useAccessToken: (t) => { access = { token: t.accessToken, expiresAt: now() + t.expiresIn * 1000 }; } }),
    /** Any documented operation with the access token (refresh and the TOTP gate handled). */
    request: authed,
    /** Any documented operation without a credential. */
    requestPublic: call,
  };
}

export type AuthplaneClient = ReturnType<typeof createAuthplaneClient>;
export type AuthedCall = <M extends Method, P extends PathsWith<M>>(method: M, path: P, opts?: CallOptions<Op<M, P>>) => Promise<Success<Op<M, P>>>;
export type { paths };

function fill(path: string, params?: object): string {
  return path.replace(/\{([^}]+)\}/g, (_m, k: string) => encodeURIComponent(String((params as Record<string, unknown> | undefined)?.[k] ?? '')));
}
