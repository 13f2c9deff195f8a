import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { deriveKey, open, seal } from '../../lib/crypto.js';

/** A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Signing secrets at rest: AES-256-GCM under a key derived from AUTH_SECRET for this purpose alone, bound
 * to tenant and endpoint (a box copied to another endpoint row does not open). They are sealed, not hashed,
 * because every delivery needs the secret itself to compute its HMAC.
 */
export function secretBox(authSecret: string) {
  const key = deriveKey(authSecret, 'webhook-signing-secret');
  const aad = (tenantId: string, endpointId: string) => `${tenantId}:${endpointId}`;
  return {
    seal: (tenantId: string, endpointId: string, secret: string) => seal(key, secret, aad(tenantId, endpointId)),
    open: (tenantId: string, endpointId: string, box: string) => open(key, box, aad(tenantId, endpointId)).toString('utf8'),
  };
}

/**
 * The three Standard Webhooks headers for one attempt. `secrets` are the live ones (the current secret and,
 * during a rotation's overlap, the previous one): the signature header then carries one `v1,<base64>` per
 * secret, space-separated, so a receiver holding either verifies.
 */
export function signedHeaders(o: { id: string; at: Date; payload: string; secrets: string[] }): Record<string, string> {
  const signatures = o.secrets.map((s) => new Webhook(s).sign(o.id, o.at, o.payload));
  return {
    'webhook-id': o.id,
    'webhook-timestamp': String(Math.floor(o.at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
