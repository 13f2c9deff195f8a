import { createHmac } from 'node:crypto';
import { constantTimeEqual, deriveKey, sha256Hex } from '../../lib/crypto.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * Chain versions (the `chain_version` column, migration 0010):
 * 1 — legacy rows written before 0010: SHA-256 over the row and its parent, a public rule anyone with
 *     write access to the table could recompute;
 * 2 — HMAC-SHA256 under a key derived from AUTH_SECRET: rewriting a row and everything after it needs the secret.
 * Every row written now is version 2. Verification accepts version 1 only before a tenant's first version-2
 * row; the first keyed row covers the last legacy row's hash, so the legacy prefix is anchored by it.
 */
export const CHAIN_VERSION = 2;
export type ChainVersion = 1 | 2;

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

/** The keys of the chain, derived from AUTH_SECRET (one purpose each). */
export interface ChainKeys {
  /** HMAC key of the row hashes (version 2). */
  row: Buffer;
  /** HMAC key of the signed chain heads. */
  head: Buffer;
}

export function chainKeys(authSecret: string): ChainKeys {
  return { row: deriveKey(authSecret, 'audit-chain-row'), head: deriveKey(authSecret, 'audit-chain-head') };
}

/** JSON with object keys sorted at every depth, so jsonb's key reordering does not change the hash. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

const fieldList = (f: ChainedFields) => [f.tenantId, f.occurredAt.toISOString(), f.actorType, f.actorId, f.action, f.target,
  f.outcome, f.ip, f.userAgent, f.requestId, f.metadata];

/** Version 1 (legacy, unkeyed): SHA-256 over the previous row's hash and every field. Verification only. */
export function legacyRowHash(prevHash: string, f: ChainedFields): string {
  return sha256Hex(canonicalJson([prevHash, ...fieldList(f)]));
}

/** Version 2: HMAC-SHA256 over the version, the previous row's hash of the same tenant and every field. */
export function keyedRowHash(key: Buffer, prevHash: string, f: ChainedFields): string {
  return createHmac('sha256', key).update(canonicalJson([CHAIN_VERSION, prevHash, ...fieldList(f)]), 'utf8').digest('hex');
}

/** The hash a row of `version` must carry. */
export function rowHash(keys: ChainKeys, version: ChainVersion, prevHash: string, f: ChainedFields): string {
  return version === 1 ? legacyRowHash(prevHash, f) : keyedRowHash(keys.row, prevHash, f);
}

/** The newest row of one chain, as a signed head names it. */
export interface ChainHead {
  tenantId: string | null;
  seq: number;
  hash: string;
}

const HEAD_PREFIX = 'ah1';
const PLATFORM = 'platform';
const HEAD_SHAPE = /^ah1\.([0-9a-f-]{36}|platform)\.(\d{1,19})\.([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$/;

const headBody = (h: ChainHead) => `${HEAD_PREFIX}.${h.tenantId ?? PLATFORM}.${h.seq}.${h.hash}`;
const headMac = (key: Buffer, body: string) => createHmac('sha256', key).update(body, 'utf8').digest('base64url');

/**
 * A signed chain head: `ah1.<tenant id | platform>.<seq>.<row hash>.<HMAC>`. Printable: operators keep the
 * line `audit-verify` prints and hand it back (`--expect-head`) to check that the log still holds that row.
 */
export function signHead(key: Buffer, h: ChainHead): string {
  const body = headBody(h);
  return `${body}.${headMac(key, body)}`;
}

/** The head a signed string names; null when it is malformed or its signature is not ours. */
export function openHead(key: Buffer, s: string): ChainHead | null {
  const m = HEAD_SHAPE.exec(s.trim());
  if (!m) return null;
  const body = `${HEAD_PREFIX}.${m[1]}.${m[2]}.${m[3]}`;
  if (!constantTimeEqual(headMac(key, body), m[4]!)) return null;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { tenantId: m[1] === PLATFORM ? null : m[1]!, seq, hash: m[3]! };
}
