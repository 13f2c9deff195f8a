import { sha256Hex } from '../../lib/crypto.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedFields {
  tenantId: string | null;
  occurredAt: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  metadata: unknown;
}

/** JSON with object keys sorted at every depth, so jsonb's key reordering does not change the hash. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The hash of one row: it covers every field and the previous row's hash of the same tenant. */
export function rowHash(prevHash: string, f: ChainedFields): string {
  return sha256Hex(canonicalJson([
    prevHash, f.tenantId, f.occurredAt.toISOString(), f.actorType, f.actorId, f.action, f.target,
    f.outcome, f.ip, f.userAgent, f.requestId, f.metadata,
  ]));
}
