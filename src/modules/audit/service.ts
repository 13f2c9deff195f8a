import type { Logger } from 'pino';
import type { Sql, Tx } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../http/errors.js';
import { redact, redactString } from '../../lib/redact.js';
import { toWellFormed } from '../../lib/well-formed.js';
import { chainKeys, erasureLookup, openHead, signHead } from './chain.js';
import { personalFields } from './personal.js';
import type { HeadStore } from './head-store.js';
import { auditStore, type AuditFilter, type AuditRow } from './store.js';
import { countAuditEvent } from '../metrics/audit-metrics.js';
import { verifyChain, type ChainBreak, type VerifyReport } from './verify.js';

export interface AuditEvent {
  tenantId: string | null;
  actor: { type: string; id: string | null };
  /** `area.verb`, e.g. `user.login` */
  action: string;
  target?: string | null;
  outcome: 'success' | 'failure' | 'denied' | 'error';
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  metadata?: Record<string, unknown>;
}

/** Request facts every audit row carries. */
export interface AuditContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export type { ChainBreak, VerifyReport } from './verify.js';

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: { sql: Sql; clock: Clock; log: Logger; authSecret: string; heads: HeadStore }) {
  const { sql, clock, log, heads } = deps;
  const keys = chainKeys(deps.authSecret);
  // Every string is redacted and made well-formed (lone surrogates → U+FFFD) before it is hashed or stored:
  // jsonb refuses a lone surrogate and a text column would store U+FFFD, so the hash would not match.
  const clip = (s: string | null | undefined, n: number) => (s == null ? null : redactString(s, { max: n }));

  const prepare = (e: AuditEvent) => {
    const fields = {
      tenantId: e.tenantId,
      occurredAt: clock.now(),
      actorType: toWellFormed(e.actor.type),
      actorId: clip(e.actor.id, 200),
      action: toWellFormed(e.action),
      target: clip(e.target, 500),
      outcome: e.outcome,
      ip: clip(e.ip, 100),
      userAgent: clip(e.userAgent, 500),
      requestId: clip(e.requestId, 128),
      metadata: redact(e.metadata ?? {}) as Record<string, unknown>,
    };
    return { fields, personal: personalFields(fields) };
  };

  /** Appends the row and moves the chain's signed head, under the chain's lock (held until `tx` ends). */
  const appendIn = async (tx: Tx, { fields, personal }: ReturnType<typeof prepare>) => {
    await auditStore.lockChain(tx, fields.tenantId);
    const head = await auditStore.append(tx, fields, personal, keys);
    // Moved before the commit, under the lock: heads move in chain order. Should the commit then fail,
    // the head names a row that does not exist until the chain's next write replaces it.
    await heads.set(fields.tenantId, signHead(keys.head, { tenantId: fields.tenantId, ...head }));
  };

  const unwritten = (e: AuditEvent, err: unknown) => {
    log.error({ err, action: e.action, requestId: e.requestId }, 'audit write failed');
    return new AppError('unavailable', 'The audit log could not be written, so this action was not confirmed; try again shortly.', {}, { cause: err });
  };

  return {
    /**
     * Writes one audit row, redacted (DESIGN §5), chained (HMAC, chain version 3: personal fields enter the
     * HMAC as keyed digests, so they can be erased later), and moves the chain's
     * signed head, in one transaction under the chain's lock. Fails closed: when the row cannot be
     * written, this throws AppError `unavailable` (503) so the request that caused the event is not
     * confirmed without its row — an attacker must not be able to keep an action out of the log.
     */
    async record(e: AuditEvent): Promise<void> {
      const row = prepare(e);
      try {
        // A platform event (tenant null) is written in the cross-tenant scope: under RLS a platform-scoped
        // transaction sees no platform rows, so the chain's previous row would be invisible and every platform
        // row would chain to the genesis hash (what versions before 0010 did).
        await sql.tx(e.tenantId ?? ALL_TENANTS, (tx) => appendIn(tx, row));
      } catch (err) {
        throw unwritten(e, err);
      }
      // Sign-in, MFA and lockout metrics are counted from the committed event (src/modules/metrics/audit-metrics.ts).
      countAuditEvent(e);
    },

    /**
     * `record` inside the caller's transaction, which must be scoped to `e.tenantId` (a tenant, not the
     * platform) and must make this its last statement: the chain's lock is held from here until that
     * transaction ends, so nothing else should wait while it is held (and no lock taken after it can
     * deadlock with another chain writer). The event commits or rolls back with the work it records. Fails
     * closed like `record` (AppError `unavailable`, and the caller's transaction rolls back). Returns the
     * function to call once the transaction has committed: the metrics count committed events only.
     */
    async recordIn(tx: Tx, e: AuditEvent & { tenantId: string }): Promise<() => void> {
      const row = prepare(e);
      try {
        await appendIn(tx, row);
      } catch (err) {
        throw unwritten(e, err);
      }
      return () => countAuditEvent(e);
    },

    /**
     * Erases, inside the caller's transaction (scoped to `tenantId`), the personal fields of every version-3
     * audit row about a deleted user: rows the user did or that were done to the user, and rows that mention
     * one of `addresses` (typed into a sign-in, a link request, an invite…), found by their keyed digests.
     * The user must already be a tombstone in this transaction (the database refuses otherwise). The chain
     * still verifies; rows of versions 1 and 2 keep their fields (docs/audit.md).
     */
    /** The keyed lookup digest of an address in a tenant (what `erasure_keys` holds); never the address itself. */
    addressLookup: (tenantId: string, address: string): string => erasureLookup(keys, tenantId, address),

    async eraseUserIn(tx: Tx, tenantId: string, userId: string, addresses: (string | null | undefined)[], formerLookups: string[] = []): Promise<number> {
      const lookups = [...new Set([...addresses.filter((a): a is string => Boolean(a && a.trim())).map((a) => erasureLookup(keys, tenantId, a)), ...formerLookups])];
      return auditStore.eraseUser(tx, userId, lookups);
    },

    /** Newest-first page across tenants (admin plane) with an opaque cursor. */
    async list(filter: Omit<AuditFilter, 'beforeSeq'> & { cursor?: string }): Promise<{ items: AuditRow[]; nextCursor: string | null }> {
      const beforeSeq = filter.cursor ? Number(Buffer.from(filter.cursor, 'base64url').toString()) : undefined;
      // A list that tolerates replication lag: the read pool (DATABASE_READ_URL) when configured.
      const rows = await sql.readTx(ALL_TENANTS, (tx) => auditStore.list(tx, { ...filter, beforeSeq: Number.isSafeInteger(beforeSeq) ? beforeSeq : undefined }));
      const items = rows.slice(0, filter.limit);
      const next = rows.length > filter.limit ? Buffer.from(String(items[items.length - 1]!.seq)).toString('base64url') : null;
      return { items, nextCursor: next };
    },

    /**
     * Recomputes every chain and checks it against its signed head (and against `expectHeads`, heads an
     * operator kept from earlier runs). `breaks` is empty when everything checked is intact; `heads` are
     * the current signed heads to keep; `notices` say what could not be checked.
     */
    async verify(o: { expectHeads?: string[] } = {}): Promise<VerifyReport> {
      const chainIds = await sql.tx(ALL_TENANTS, (tx) => auditStore.chainIds(tx));
      const report: VerifyReport = { breaks: [], heads: [], notices: [] };
      const expected = (o.expectHeads ?? []).map((s) => ({ s, head: openHead(keys.head, s) }));
      for (const bad of expected.filter((x) => !x.head)) {
        report.breaks.push({ tenantId: null, seq: null, id: null, problem: 'expected_head_invalid', detail: bad.s.slice(0, 120) });
      }
      for (const tenantId of chainIds) {
        // Under the chain's lock: no append is half done (row written, head not yet moved) while we read.
        const { rows, head } = await sql.tx(ALL_TENANTS, async (tx) => {
          await auditStore.lockChain(tx, tenantId);
          return { head: await heads.get(tenantId), rows: await auditStore.chain(tx, tenantId) };
        });
        const kept = expected.flatMap((x) => (x.head && x.head.tenantId === tenantId ? [x.head] : []));
        verifyChain(report, { tenantId, rows, head, kept, keys });
      }
      for (const x of expected) {
        if (x.head && !chainIds.includes(x.head.tenantId)) report.breaks.push({ tenantId: x.head.tenantId, seq: x.head.seq, id: null, problem: 'kept_head_missing' });
      }
      return report;
    },
  };
}
