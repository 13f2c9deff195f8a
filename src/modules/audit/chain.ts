import { createHmac } from 'node:crypto';
import { constantTimeEqual, deriveKey, sha256Hex } from '../../lib/crypto.js';
import { addressesIn, ERASED, normalizeEmail, PERSONAL_COLUMNS, type PersonalField } from './personal.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * Chain versions (the `chain_version` column, migration 0010):
 * 1 — legacy rows written before 0010: SHA-256 over the row and its parent, a public rule anyone with
 *     write access to the table could recompute;
 * 2 — HMAC-SHA256 under a key derived from AUTH_SECRET: rewriting a row and everything after it needs the secret;
 * 3 — as 2, but each personal field (personal.ts) enters the HMAC as a keyed digest of itself (per tenant, per
 *     row and path), listed in the row's `personal` column: erasure blanks the field, keeps the digest, and
 *     the row still verifies (migration 0015).
 * Every row written now is version 3. Versions never go down along a chain: version 1 only before a chain's
 * first keyed row (which covers the last legacy row's hash, so the legacy prefix is anchored by it), version 2
 * only before its first version-3 row.
 */
export const CHAIN_VERSION = 3;
export type ChainVersion = 1 | 2 | 3;

/** A personal field of a version-3 row, as the `personal` column lists it: its path and its keyed digest. */
export interface PersonalDigest {
  p: string[];
  d: string;
}

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
  /** Base of the per-tenant keys of personal-field digests (version 3). */
  personal: Buffer;
  /** Base of the per-tenant keys of address lookups (`erasure_keys`). */
  lookup: Buffer;
}

export function chainKeys(authSecret: string): ChainKeys {
  return {
    row: deriveKey(authSecret, 'audit-chain-row'), head: deriveKey(authSecret, 'audit-chain-head'),
    personal: deriveKey(authSecret, 'audit-personal-field'), lookup: deriveKey(authSecret, 'audit-erasure-lookup'),
  };
}

/** One key per chain (tenant, or the platform): a digest from one tenant says nothing in another. */
const perChain = (base: Buffer, tenantId: string | null): Buffer => createHmac('sha256', base).update(`chain:${tenantId ?? 'platform'}`, 'utf8').digest();

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
  return createHmac('sha256', key).update(canonicalJson([2, prevHash, ...fieldList(f)]), 'utf8').digest('hex');
}

/**
 * The keyed digest of one personal field: HMAC under the chain's personal key over the row's seq, the path and
 * the value. Seq and path make equal values give unrelated digests (erased rows cannot be linked by them);
 * without AUTH_SECRET a digest cannot be tested against a guessed address or IP.
 */
export function personalDigest(keys: ChainKeys, tenantId: string | null, seq: number, path: string[], value: unknown): string {
  return createHmac('sha256', perChain(keys.personal, tenantId)).update(canonicalJson([seq, path, value]), 'utf8').digest('hex');
}

/** The keyed digest an address is looked up by in `erasure_keys` (normalized; one key per chain). */
export function erasureLookup(keys: ChainKeys, tenantId: string | null, email: string): string {
  return createHmac('sha256', perChain(keys.lookup, tenantId)).update(normalizeEmail(email), 'utf8').digest('hex');
}

/** The digests (`personal` column) and address lookups (`erasure_keys` column) of a row about to be written. */
export function sealPersonal(keys: ChainKeys, tenantId: string | null, seq: number, fields: PersonalField[]): { personal: PersonalDigest[]; lookups: string[] } {
  return {
    personal: fields.map((x) => ({ p: x.path, d: personalDigest(keys, tenantId, seq, x.path, x.value) })),
    lookups: addressesIn(fields).map((a) => erasureLookup(keys, tenantId, a)),
  };
}

const COLUMN_OF: Record<string, 'ip' | 'userAgent' | 'target'> = { ip: 'ip', user_agent: 'userAgent', target: 'target' };
const DIGEST_SHAPE = /^[0-9a-f]{64}$/;

/** The value at a personal path of the fields; undefined when the path does not exist. */
function valueAt(f: ChainedFields, path: string[]): unknown {
  if (path.length === 1 && (PERSONAL_COLUMNS as readonly string[]).includes(path[0]!)) return f[COLUMN_OF[path[0]!]!];
  if (path[0] !== 'metadata' || path.length < 2) return undefined;
  let v: unknown = f.metadata;
  for (const k of path.slice(1)) {
    if (!v || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** The fields with each listed personal path replaced by its digest: what a version-3 row's HMAC covers. */
function sealedFields(f: ChainedFields, personal: PersonalDigest[]): ChainedFields | null {
  const out: ChainedFields = { ...f, metadata: f.metadata === undefined ? undefined : JSON.parse(JSON.stringify(f.metadata ?? null)) };
  for (const { p, d } of personal) {
    if (valueAt(out, p) === undefined) return null;
    const sealed = { $personal: d };
    if (p.length === 1) out[COLUMN_OF[p[0]!]!] = sealed as unknown as string;
    else {
      let parent = out.metadata as Record<string, unknown>;
      for (const k of p.slice(1, -1)) parent = parent[k] as Record<string, unknown>;
      parent[p[p.length - 1]!] = sealed;
    }
  }
  return out;
}

/** Version 3: HMAC-SHA256 over the version, the previous hash, every field with personal ones sealed, and the list. */
export function sealedRowHash(key: Buffer, prevHash: string, f: ChainedFields, personal: PersonalDigest[]): string | null {
  const sealed = sealedFields(f, personal);
  if (!sealed) return null;
  return createHmac('sha256', key).update(canonicalJson([3, prevHash, ...fieldList(sealed), personal]), 'utf8').digest('hex');
}

/**
 * Whether the personal fields of a version-3 row are each either erased (a null column, an "[erased]" metadata
 * value) or still the value its digest was made of. An edited personal value fails here; an erased one passes.
 */
export function personalIntact(keys: ChainKeys, tenantId: string | null, seq: number, f: ChainedFields, personal: unknown): personal is PersonalDigest[] {
  if (!Array.isArray(personal)) return false;
  const seen = new Set<string>();
  for (const e of personal as PersonalDigest[]) {
    if (!e || !Array.isArray(e.p) || e.p.length === 0 || !e.p.every((k) => typeof k === 'string') || typeof e.d !== 'string' || !DIGEST_SHAPE.test(e.d)) return false;
    const id = JSON.stringify(e.p);
    if (seen.has(id)) return false;
    seen.add(id);
    const v = valueAt(f, e.p);
    if (v === undefined) return false;
    const erased = e.p.length === 1 ? v === null : v === ERASED;
    if (!erased && !constantTimeEqual(personalDigest(keys, tenantId, seq, e.p, v), e.d)) return false;
  }
  return true;
}

/** The hash a row of `version` must carry (null when a version-3 row's personal list does not fit its fields). */
export function rowHash(keys: ChainKeys, version: ChainVersion, prevHash: string, f: ChainedFields, personal?: PersonalDigest[]): string | null {
  if (version === 1) return legacyRowHash(prevHash, f);
  if (version === 2) return keyedRowHash(keys.row, prevHash, f);
  return sealedRowHash(keys.row, prevHash, f, personal ?? []);
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
