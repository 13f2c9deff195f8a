import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A software WebAuthn authenticator (SECURITY §5): a P-256 key, `none` attestation and hand-built
 * CBOR authenticator data, so that every field a check is about can be changed on purpose.
 */

// --- a minimal CBOR encoder (unsigned/negative ints, byte and text strings, maps) ---
type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) { const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(n, 1); return b; }
  const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(n, 1); return b;
}
export function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') { const s = Buffer.from(v, 'utf8'); return Buffer.concat([head(3, s.length), s]); }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), Buffer.from(v)]);
  const parts = [head(5, v.size)];
  for (const [k, val] of v) parts.push(cbor(k), cbor(val));
  return Buffer.concat(parts);
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export interface Flags { up?: boolean; uv?: boolean; be?: boolean; bs?: boolean }

/** What a test may change in one ceremony. */
export interface Tamper {
  type?: string;
  origin?: string;
  challenge?: string;
  crossOrigin?: boolean;
  topOrigin?: string;
  rpId?: string;
  flags?: Flags;
  counter?: number;
  userHandle?: string | null;
  alg?: number;
  /** replaces the clientDataJSON (base64url) outright */
  clientDataJSON?: string;
  attestationObject?: string;
}

export interface SoftAuthenticatorOptions {
  origin: string;
  rpId: string;
  credentialId?: Uint8Array;
  /** the counter reported at registration; each login adds one unless `fixedCounter` */
  counter?: number;
  /** always report this counter (0 = an authenticator without a counter) */
  fixedCounter?: number;
  flags?: Flags;
}

function flagByte(f: Flags, attested: boolean): number {
  return (f.up === false ? 0 : 0x01) | (f.uv === false ? 0 : 0x04) | (f.be ? 0x08 : 0) | (f.bs ? 0x10 : 0) | (attested ? 0x40 : 0);
}

export function createSoftAuthenticator(o: SoftAuthenticatorOptions) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const credentialId = o.credentialId ?? new Uint8Array(randomBytes(16));
  let counter = o.counter ?? 0;
  let userHandle: string | null = null;

  const coseKey = (alg: number) => cbor(new Map<Cbor, Cbor>([[1, 2], [3, alg], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));

  function authData(t: Tamper, attested: boolean, count: number): Buffer {
    const parts: Buffer[] = [sha256(t.rpId ?? o.rpId), Buffer.from([flagByte({ ...o.flags, ...t.flags }, attested)]), Buffer.alloc(4)];
    parts[2]!.writeUInt32BE(count, 0);
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(credentialId.length, 0);
      parts.push(Buffer.alloc(16), len, Buffer.from(credentialId), coseKey(t.alg ?? -7));
    }
    return Buffer.concat(parts);
  }

  function clientData(kind: string, challenge: string, t: Tamper): string {
    if (t.clientDataJSON) return t.clientDataJSON;
    const c: Record<string, unknown> = { type: t.type ?? kind, challenge: t.challenge ?? challenge, origin: t.origin ?? o.origin, crossOrigin: t.crossOrigin ?? false };
    if (t.topOrigin) c.topOrigin = t.topOrigin;
    return b64u(JSON.stringify(c));
  }

  return {
    credentialId: b64u(credentialId),
    get counter() { return counter; },
    key: privateKey as KeyObject,

    /** navigator.credentials.create() for these options, as PublicKeyCredential JSON. */
    register(options: { challenge: string; user: { id: string } }, t: Tamper = {}) {
      userHandle = options.user.id;
      const att = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData(t, true, t.counter ?? counter)]]));
      const id = b64u(credentialId);
      return {
        id, rawId: id, type: 'public-key',
        response: { clientDataJSON: clientData('webauthn.create', options.challenge, t), attestationObject: t.attestationObject ?? b64u(att), transports: ['internal'] },
        clientExtensionResults: {}, authenticatorAttachment: 'platform',
      };
    },

    /** navigator.credentials.get() for these options, as PublicKeyCredential JSON. */
    login(options: { challenge: string }, t: Tamper = {}) {
      const count = t.counter ?? (o.fixedCounter !== undefined ? o.fixedCounter : ++counter);
      const ad = authData(t, false, count);
      const cd = clientData('webauthn.get', options.challenge, t);
      const signature = sign('sha256', Buffer.concat([ad, sha256(Buffer.from(cd, 'base64url'))]), privateKey);
      const id = b64u(credentialId);
      return {
        id, rawId: id, type: 'public-key',
        response: { clientDataJSON: cd, authenticatorData: b64u(ad), signature: b64u(signature), userHandle: t.userHandle === null ? undefined : (t.userHandle ?? userHandle ?? undefined) },
        clientExtensionResults: {}, authenticatorAttachment: 'platform',
      };
    },
  };
}
