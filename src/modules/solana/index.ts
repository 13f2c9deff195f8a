import type { ModuleDef } from '../module.js';
import { solanaRoutes } from './routes.js';

export const solanaModule: ModuleDef = {
  name: 'solana',
  plugin: solanaRoutes,
  discovery: (config) => ({
    summary: 'Sign in with a Solana wallet (Sign-In-With-Solana message, Ed25519 signature). No password; amr ["swk"].',
    flow: [
      `POST ${config.basePath}/solana/challenge {"publicKey": "<base58 address>"} → {nonce, message, expiresAt} (5 minutes, single use)`,
      'Sign the exact UTF-8 bytes of `message` with the wallet (signMessage); encode the 64-byte signature in base58',
      `POST ${config.basePath}/solana {"publicKey", "signature"} → AuthResponse (a new user on first sign-in) or MfaRequiredResponse`,
    ],
    link: [
      `With a session: POST ${config.basePath}/solana/challenge {"publicKey", "purpose": "link"}, sign, then POST ${config.basePath}/solana/link {"publicKey", "signature"} (step-up for MFA users)`,
      `GET ${config.basePath}/solana/link (an access token, or an API key with scope user:read) → {publicKey, linkedAt}; DELETE ${config.basePath}/solana/link unlinks (409 if it is the only sign-in method)`,
    ],
    errors: { 400: 'bad base58 or wrong length', 401: 'invalid_credentials: replayed, expired or foreign signature', 409: 'wallet linked elsewhere' },
  }),
};
