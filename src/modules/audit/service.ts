import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import { ALL_TENANTS } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { redact, redactString } from '../../lib/redact.js';
import { GENESIS_HASH, rowHash } from './chain.js';
import { auditStore, fieldsOf, type AuditFilter, type AuditRow } from './store.js';

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

export interface ChainBreak {
  tenantId: string | null;
  seq: number;
  id: string;
  problem: 'hash_mismatch' | 'broken_link';
}

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: { sql: Sql; clock: Clock; log: Logger }) {
  const { sql, clock, log } = deps;
  const clip = (s: string | null | undefined, n: number) => (s == null ? null : redactString(s.slice(0, n)));

  return {
    /**
     * Writes one audit row, redacted (DESIGN §5). An audit failure is logged and does not fail the
     * request that caused it: the event already happened.
     */
    async record(e: AuditEvent): Promise<void> {
      const fields = {
        tenantId: e.tenantId,
        occurredAt: clock.now(),
        actorType: e.actor.type,
        actorId: clip(e.actor.id, 200),
        action: e.action,
        target: clip(e.target, 500),
        outcome: e.outcome,
        ip: clip(e.ip, 100),
        userAgent: clip(e.userAgent, 500),
        requestId: clip(e.requestId, 128),
        metadata: redact(e.metadata ?? {}) as Record<string, unknown>,
      };
      try {
        await sql.tx(e.tenantId, (tx) => auditStore.append(tx, fields));
      } catch (err) {
        log.error({ err, action: e.action, requestId: e.requestId }, 'audit write failed');
      }
    },

    /** Newest-first page across tenants (admin plane) with an opaque cursor. */
    async list(filter: Omit<AuditFilter, 'beforeSeq'> & { cursor?: string }): Promise<{ items: AuditRow[]; nextCursor: string | null }> {
      const beforeSeq = filter.cursor ? Number(Buffer.from(filter.cursor, 'base64url').toString()) : undefined;
      const rows = await sql.tx(ALL_TENANTS, (tx) => auditStore.list(tx, { ...filter, beforeSeq: Number.isSafeInteger(beforeSeq) ? beforeSeq : undefined }));
      const items = rows.slice(0, filter.limit);
      const next = rows.length > filter.limit ? Buffer.from(String(items[items.length - 1]!.seq)).toString('base64url') : null;
      return { items, nextCursor: next };
    },

    /** Recomputes every chain; returns the first broken link of each broken chain (empty: intact). */
    async verify(): Promise<ChainBreak[]> {
      return sql.tx(ALL_TENANTS, async (tx) => {
        const breaks: ChainBreak[] = [];
        for (const tenantId of await auditStore.chainIds(tx)) {
          let prev = GENESIS_HASH;
          for (const r of await auditStore.chain(tx, tenantId)) {
            if (r.prev_hash !== prev) { breaks.push({ tenantId, seq: Number(r.seq), id: r.id, problem: 'broken_link' }); break; }
            if (rowHash(prev, fieldsOf(r)) !== r.hash) { breaks.push({ tenantId, seq: Number(r.seq), id: r.id, problem: 'hash_mismatch' }); break; }
            prev = r.hash;
          }
        }
        return breaks;
      });
    },
  };
}
