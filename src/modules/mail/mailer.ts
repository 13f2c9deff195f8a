import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import { redactString } from '../../lib/redact.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  /** Sends one message; throws when the transport refuses it. */
  send(msg: MailMessage): Promise<void>;
  /**
   * Sends without making the caller wait or fail: flows that must answer the same for known and
   * unknown addresses (SECURITY PWD-05) use this so delivery time cannot be measured.
   */
  sendInBackground(msg: MailMessage): void;
  /** Resolves when background sends have settled (tests, shutdown). */
  drain(): Promise<void>;
  close(): void;
}

const SAFE_HEADER = /^[^\r\n]{1,998}$/;

/**
 * SMTP through nodemailer when SMTP_URL is set; otherwise a development transport that writes each
 * message to DATA_DIR/outbox/<time>-<id>.json and logs that it did (the log line never has the body,
 * which carries one-time links).
 */
export function createMailer(o: { smtpUrl?: string; from: string; dataDir: string; log: Logger }): Mailer {
  const pending = new Set<Promise<void>>();
  const transport = o.smtpUrl ? nodemailer.createTransport(o.smtpUrl) : null;
  const outbox = path.join(o.dataDir, 'outbox');

  async function send(msg: MailMessage): Promise<void> {
    // Header injection: addresses and subjects are single lines (SECURITY ML-03).
    if (!SAFE_HEADER.test(msg.to) || !SAFE_HEADER.test(msg.subject)) throw new Error('mail header contains a line break');
    if (transport) {
      await transport.sendMail({ from: o.from, to: msg.to, subject: msg.subject, text: msg.text, html: msg.html });
    } else {
      mkdirSync(outbox, { recursive: true });
      const file = path.join(outbox, `${Date.now()}-${randomUUID()}.json`);
      writeFileSync(file, JSON.stringify({ from: o.from, ...msg, sentAt: new Date().toISOString() }, null, 2), { mode: 0o600 });
      o.log.info({ to: redactString(msg.to), subject: msg.subject, file }, 'mail written to the outbox (SMTP_URL is not set)');
    }
  }

  return {
    send,
    sendInBackground(msg) {
      const p = send(msg).catch((err) => o.log.error({ err, subject: msg.subject }, 'mail delivery failed'))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async drain() {
      while (pending.size) await Promise.all([...pending]);
    },
    close() {
      transport?.close();
    },
  };
}

/** Escapes text for the HTML part of a mail (no user input reaches HTML unescaped). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
