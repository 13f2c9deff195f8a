import { constantTimeEqual } from '../../lib/crypto.js';
import { GENESIS_HASH, openHead, personalIntact, rowHash, signHead, type ChainHead, type ChainKeys } from './chain.js';
import { fieldsOf, type AuditRow } from './store.js';

export interface ChainBreak {
  tenantId: string | null;
  /** the first bad row, or the seq a (kept) head names; null when no row is concerned */
  seq: number | null;
  id: string | null;
  problem:
    | 'broken_link' // the row's prev_hash is not the previous row's hash: a row before it was deleted or moved
    | 'hash_mismatch' // the row was edited (or written under another AUTH_SECRET); for version 3 also: a personal field changed to anything but its erasure
    | 'unkeyed_after_keyed' // a legacy (unkeyed) row after a keyed one: a rewrite with the public rule
    | 'version_downgrade' // a version-2 row after a version-3 one: personal fields hashed in the clear again
    | 'truncated' // the row the chain's signed head names is gone or differs: the newest rows were deleted or rewritten
    | 'head_forged' // the stored head is not signed with this AUTH_SECRET
    | 'kept_head_missing' // a head an operator kept (--expect-head) names a row the log no longer holds
    | 'expected_head_invalid'; // a head given to --expect-head is malformed or not signed with this AUTH_SECRET
  detail?: string;
}

export interface VerifyReport {
  breaks: ChainBreak[];
  /** The signed head of each intact, non-empty chain: keep them, and pass them back with --expect-head. */
  heads: { tenantId: string | null; seq: number; head: string }[];
  /** What could not be checked (e.g. a chain without a stored head). */
  notices: string[];
}

const nameOf = (tenantId: string | null) => tenantId ?? 'platform';

/**
 * Checks one chain (rows oldest first) and adds what it finds to `report`:
 * - each row links to the previous row's hash and carries the hash of its version (1 legacy SHA-256, only
 *   before the first keyed row; 2 HMAC under AUTH_SECRET, only before the first version-3 row; 3 HMAC with
 *   personal fields sealed by their digests — each personal field either erased or matching its digest);
 * - the stored signed head (kept outside the table) names a row the chain still holds, with that hash: a
 *   deleted or rewritten tail is seen even when the remaining rows link up;
 * - each head the operator kept from an earlier run names a row still in the chain.
 */
export function verifyChain(report: VerifyReport, o: { tenantId: string | null; rows: AuditRow[]; head: string | null; kept: ChainHead[]; keys: ChainKeys }): void {
  const { tenantId, rows, keys } = o;
  const before = report.breaks.length;
  let prev = GENESIS_HASH;
  let keyed = false;
  let highest = 0;
  for (const r of rows) {
    const at = { tenantId, seq: Number(r.seq), id: r.id };
    const version = Number(r.chain_version);
    // Before 0010 the platform chain's writer could not see its previous row (RLS), so each legacy platform
    // row chained to the genesis hash: accepted for those rows only (an edit still shows; a deletion did not).
    const legacyPlatformRow = tenantId === null && version === 1 && !keyed && r.prev_hash === GENESIS_HASH;
    if (legacyPlatformRow) prev = GENESIS_HASH;
    if (r.prev_hash !== prev) { report.breaks.push({ ...at, problem: 'broken_link' }); break; }
    if (version === 1 && keyed) { report.breaks.push({ ...at, problem: 'unkeyed_after_keyed' }); break; }
    if (version === 2 && highest > 2) { report.breaks.push({ ...at, problem: 'version_downgrade' }); break; }
    const f = fieldsOf(r);
    const ok = version === 1 || version === 2
      ? constantTimeEqual(rowHash(keys, version, prev, f)!, r.hash)
      : version === 3 && personalIntact(keys, tenantId, Number(r.seq), f, r.personal)
        && constantTimeEqual(rowHash(keys, 3, prev, f, r.personal) ?? '', r.hash);
    if (!ok) {
      report.breaks.push({ ...at, problem: 'hash_mismatch' });
      break;
    }
    if (version >= 2) keyed = true;
    highest = Math.max(highest, version);
    prev = r.hash;
  }

  const bySeq = new Map(rows.map((r) => [Number(r.seq), r]));
  const holds = (h: ChainHead) => { const r = bySeq.get(h.seq); return Boolean(r && r.hash === h.hash); };
  const last = rows[rows.length - 1];

  if (o.head !== null) {
    const head = openHead(keys.head, o.head);
    if (!head || head.tenantId !== tenantId) {
      report.breaks.push({ tenantId, seq: null, id: null, problem: 'head_forged' });
    } else if (!holds(head)) {
      report.breaks.push({ tenantId, seq: head.seq, id: bySeq.get(head.seq)?.id ?? null, problem: 'truncated' });
    } else if (last && Number(last.seq) > head.seq) {
      report.notices.push(`chain ${nameOf(tenantId)}: ${rows.filter((r) => Number(r.seq) > head.seq).length} row(s) after the stored head (seq ${head.seq}); was the key-value store restored from an older copy?`);
    }
  } else if (keyed) {
    report.notices.push(`chain ${nameOf(tenantId)}: no stored head, so deleting its newest rows would not be seen; compare with a head kept from an earlier run (--expect-head). The next audit event stores a new one.`);
  }

  for (const h of o.kept) {
    if (!holds(h)) report.breaks.push({ tenantId, seq: h.seq, id: bySeq.get(h.seq)?.id ?? null, problem: 'kept_head_missing' });
  }

  if (report.breaks.length === before && last) {
    report.heads.push({ tenantId, seq: Number(last.seq), head: signHead(keys.head, { tenantId, seq: Number(last.seq), hash: last.hash }) });
  }
}
