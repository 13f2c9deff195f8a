import bs58 from 'bs58';
import nacl from 'tweetnacl';

/** A software Solana wallet: an Ed25519 key pair that signs messages as Phantom's signMessage does. */
export function newWallet() {
  const kp = nacl.sign.keyPair();
  return {
    publicKey: bs58.encode(kp.publicKey),
    /** base58 detached signature of the UTF-8 bytes of `message` */
    sign: (message: string) => bs58.encode(nacl.sign.detached(new TextEncoder().encode(message), kp.secretKey)),
  };
}

/** Settings that lift the rate limits for tests that send many requests (SECURITY conventions). */
export const RAISED_LIMITS = {
  rateLimits: { credential: { limit: 100_000, windowSeconds: 60 }, default: { limit: 100_000, windowSeconds: 60 } },
};

/**
 * The Sign-In-With-Solana ABNF (phantom/sign-in-with-solana) for the fields we emit, as one regex:
 * domain line, address, statement, URI, Version 1, a SIWS Chain ID, Nonce (≥ 8 alphanumerics),
 * Issued At and Expiration Time (RFC 3339).
 */
export const SIWS_RE = new RegExp([
  '^(?<domain>[A-Za-z0-9.\\-:\\[\\]]+) wants you to sign in with your Solana account:',
  '(?<address>[1-9A-HJ-NP-Za-km-z]{32,44})',
  '',
  '(?<statement>[^\\n]+)',
  '',
  'URI: (?<uri>[^\\s]+)',
  'Version: (?<version>1)',
  'Chain ID: (?<chain>mainnet|testnet|devnet|localnet|solana:mainnet|solana:testnet|solana:devnet)',
  'Nonce: (?<nonce>[A-Za-z0-9]{8,})',
  'Issued At: (?<issuedAt>\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2}))',
  'Expiration Time: (?<expirationTime>\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2}))$',
].join('\\n'));
