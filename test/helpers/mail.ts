import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message the development transport wrote to DATA_DIR/outbox. */
export interface OutboxMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  file: string;
}

/** Every message in `<dataDir>/outbox`, oldest first. */
export function readOutbox(dataDir: string): OutboxMail[] {
  const dir = path.join(dataDir, 'outbox');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({ ...JSON.parse(readFileSync(path.join(dir, f), 'utf8')), file: f }));
}

/** The messages to `to` (case-insensitive), oldest first. */
export const mailsTo = (dataDir: string, to: string): OutboxMail[] =>
  readOutbox(dataDir).filter((m) => m.to.toLowerCase() === to.toLowerCase());

/** The first link in a text that carries a `token` query parameter. */
export function linkIn(text: string): string {
  const m = /https?:\/\/\S+[?&]token=[A-Za-z0-9_-]+/.exec(text);
  if (!m) throw new Error(`no link with a token in: ${text}`);
  return m[0];
}

/** The token of the first link in a text. */
export const tokenIn = (text: string): string => new URL(linkIn(text)).searchParams.get('token')!;

/** A message received by the test SMTP server. */
export interface SmtpMail {
  from: string;
  to: string[];
  raw: string;
  /** the raw message with quoted-printable soft breaks and escapes undone (enough to read links) */
  decoded: string;
}

/** Undoes quoted-printable encoding: soft line breaks and =XX escapes (test-side reading only). */
export function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/**
 * A real SMTP server on a free loopback port that accepts every message without authentication and
 * keeps it. Point the app at it with SMTP_URL=smtp://127.0.0.1:<port>?ignoreTLS=true.
 */
export async function startSmtpCapture(): Promise<{ port: number; url: string; messages: SmtpMail[]; waitFor(n: number, timeoutMs?: number): Promise<SmtpMail[]>; close(): Promise<void> }> {
  const messages: SmtpMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          decoded: decodeQuotedPrintable(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    messages,
    async waitFor(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > end) throw new Error(`expected ${n} messages, got ${messages.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
