import { z } from 'zod';
import type { Session } from './session-store.js';

/** A live session as the API shows it (no token material); shared by GET /sessions and the MCP tool. */
export const SessionBody = z.object({
  id: z.uuid(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  method: z.string(),
  amr: z.array(z.string()),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean().describe('the session of the calling access token'),
}).meta({ id: 'Session' });

export type SessionBody = z.infer<typeof SessionBody>;

/** The allow-listed view of a session; `currentSessionId` is the caller's (null for an API key). */
export const toSessionBody = (s: Session, currentSessionId: string | null): SessionBody => ({
  id: s.id, createdAt: new Date(s.createdAt).toISOString(), expiresAt: new Date(s.expiresAt).toISOString(), method: s.method,
  amr: s.amr, ip: s.ip, userAgent: s.userAgent, current: s.id === currentSessionId,
});
