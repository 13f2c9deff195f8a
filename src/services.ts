import type { BaseDeps } from './deps.js';
import type { Authenticators } from './http/guard.js';
import type { Unsubscribe } from './kv/kv.js';
import { createSigningKeys, type SigningKeys } from './modules/tokens/signing-keys.js';
import { createAccessTokens, type AccessTokens } from './modules/tokens/access-tokens.js';
import { createSessionStore } from './modules/sessions/session-store.js';
import { createSessionService, type SessionService } from './modules/sessions/service.js';
import { createSignIn, type SecondFactorStep, type SignIn, type SignupKeyIssuer } from './modules/sessions/sign-in.js';
import { createPasswordHasher, type PasswordHasher } from './modules/password/hasher.js';
import { createPasswordService, type LoginThrottle, type PasswordService } from './modules/password/service.js';
import { createMailer, type Mailer } from './modules/mail/mailer.js';

/**
 * The capability services shared by routes, MCP tools and the CLI. Each capability adds its service
 * here; routes reach them through `deps.services`.
 */
export interface Services {
  stop(): Promise<void>;
  /** Makes a new active signing key; returns its kid. */
  rotateSigningKey(): Promise<string>;
  signingKeys: SigningKeys;
  tokens: AccessTokens;
  sessions: SessionService;
  signIn: SignIn;
  hasher: PasswordHasher;
  password: PasswordService;
  mailer: Mailer;
}

/** Hooks later capabilities plug into the sign-in path (filled below as they are created). */
interface Hooks {
  secondFactor?: SecondFactorStep;
  signupKeys?: SignupKeyIssuer;
  throttle?: LoginThrottle;
}

export async function createServices(base: BaseDeps): Promise<{ services: Services; authenticators: Authenticators }> {
  const { config, sql, kv, clock, audit, tenants } = base;
  const subscriptions: Unsubscribe[] = [];
  subscriptions.push(await tenants.start());
  const hooks: Hooks = {};

  const signingKeys = await createSigningKeys({ sql, kv, clock, alg: config.jwtAlg, authSecret: base.authSecret, jwtSecret: config.jwtSecret });
  const tokens = createAccessTokens({ keys: signingKeys, clock, issuer: config.publicUrl });
  const sessions = createSessionService({ sql, clock, store: createSessionStore(kv), tokens, tenants, audit });
  const signIn = createSignIn({ sql, clock, sessions, audit, hooks });
  const hasher = await createPasswordHasher({ concurrency: config.argon2MaxConcurrency });
  const password = createPasswordService({ sql, clock, hasher, signIn, audit, hooks });

  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.smtpFrom, dataDir: config.dataDir, log: base.log });

  const services: Services = {
    signingKeys, tokens, sessions, signIn, hasher, password, mailer,
    rotateSigningKey: () => signingKeys.rotate(),
    async stop() {
      await mailer.drain();
      mailer.close();
      await signingKeys.stop();
      await Promise.all(subscriptions.map((u) => u().catch(() => {})));
    },
  };
  const authenticators: Authenticators = {
    accessToken: (token, o) => sessions.authenticate(token, o.viaCookie),
    apiKey: async () => null,
    adminKey: (key) => base.adminKeys.verify(key),
  };
  return { services, authenticators };
}
