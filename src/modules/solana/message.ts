import bs58 from 'bs58';

/** Decodes base58 to bytes; null when the text is not base58 (the library throws on 0, O, I, l …). */
export function decodeBase58(s: string): Uint8Array | null {
  if (!/^[1-9A-HJ-NP-Za-km-z]+$/.test(s)) return null;
  try {
    return bs58.decode(s);
  } catch {
    return null;
  }
}

export const SIWS_CHAIN_ID = 'mainnet';
export const SIWS_VERSION = '1';

export const STATEMENTS = {
  signin: 'Sign in with your Solana account.',
  link: 'Link this Solana account to your signed-in account.',
} as const;

export interface SiwsFields {
  /** host[:port] of PUBLIC_URL — never of the request (SECURITY SOL-01) */
  domain: string;
  address: string;
  statement: string;
  uri: string;
  nonce: string;
  issuedAt: Date;
  expirationTime: Date;
}

/**
 * The Sign-In-With-Solana message (phantom/sign-in-with-solana ABNF, EIP-4361 field order). The
 * server stores the exact text and later verifies the signature over these bytes only, so nothing
 * in it is ever re-parsed from what the client sends back.
 */
export function buildSiwsMessage(f: SiwsFields): string {
  return [
    `${f.domain} wants you to sign in with your Solana account:`,
    f.address,
    '',
    f.statement,
    '',
    `URI: ${f.uri}`,
    `Version: ${SIWS_VERSION}`,
    `Chain ID: ${SIWS_CHAIN_ID}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${f.issuedAt.toISOString()}`,
    `Expiration Time: ${f.expirationTime.toISOString()}`,
  ].join('\n');
}
