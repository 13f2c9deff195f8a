import type { Tx } from '../../db/sql.js';

export interface Ban {
  id: string;
  ip: string;
  reason: string;
  lockouts: number;
  createdAt: Date;
  liftedAt: Date | null;
  liftedBy: string | null;
}

interface BanRow {
  id: string;
  ip: string;
  reason: string;
  lockouts: number;
  created_at: Date;
  lifted_at: Date | null;
  lifted_by: string | null;
}

const toBan = (r: BanRow): Ban => ({
  id: r.id,
  ip: r.ip,
  reason: r.reason,
  lockouts: Number(r.lockouts),
  createdAt: new Date(r.created_at),
  liftedAt: r.lifted_at ? new Date(r.lifted_at) : null,
  liftedBy: r.lifted_by,
});

export type BanStatus = 'active' | 'lifted' | 'all';

const STATUS_WHERE: Record<BanStatus, string> = {
  active: 'lifted_at IS NULL',
  lifted: 'lifted_at IS NOT NULL',
  all: 'true',
};

/** SQL for the platform `bans` table (run with `sql.tx(null, …)`). */
export const banStore = {
  /** Inserts an active ban; null when the address already has one (one racer inserts). */
  async insert(tx: Tx, b: { ip: string; reason: string; lockouts: number; now: Date }): Promise<Ban | null> {
    const { rows } = await tx.query<BanRow>(
      `INSERT INTO bans (ip, reason, lockouts, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ip) WHERE lifted_at IS NULL DO NOTHING RETURNING *`,
      [b.ip, b.reason, b.lockouts, b.now],
    );
    return rows[0] ? toBan(rows[0]) : null;
  },

  /** Every active ban's id and address (the in-process cache is rebuilt from this). */
  async active(tx: Tx): Promise<{ id: string; ip: string }[]> {
    const { rows } = await tx.query<{ id: string; ip: string }>('SELECT id, ip FROM bans WHERE lifted_at IS NULL');
    return rows;
  },

  /** A page of bans, newest first. */
  async list(tx: Tx, o: { status: BanStatus; limit: number; offset: number }): Promise<{ items: Ban[]; total: number }> {
    const where = STATUS_WHERE[o.status];
    const { rows } = await tx.query<BanRow>(`SELECT * FROM bans WHERE ${where} ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`, [o.limit, o.offset]);
    const count = await tx.query<{ n: string }>(`SELECT count(*) AS n FROM bans WHERE ${where}`);
    return { items: rows.map(toBan), total: Number(count.rows[0]?.n ?? 0) };
  },

  /** Lifts the active ban with this id (or on this address); null when there is none. One racer lifts. */
  async lift(tx: Tx, by: { id: string } | { ip: string }, o: { liftedBy: string; now: Date }): Promise<Ban | null> {
    const [column, value] = 'id' in by ? ['id', by.id] : ['ip', by.ip];
    const { rows } = await tx.query<BanRow>(
      `UPDATE bans SET lifted_at = $2, lifted_by = $3 WHERE ${column} = $1 AND lifted_at IS NULL RETURNING *`,
      [value, o.now, o.liftedBy],
    );
    return rows[0] ? toBan(rows[0]) : null;
  },
};
