import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomToken } from './lib/crypto.js';
import type { Config } from './config.js';

/**
 * The master secret. Set by AUTH_SECRET; in embedded mode without it, generated once and kept in
 * DATA_DIR/auth-secret (mode 0600), so a restart keeps sessions and encrypted keys readable.
 */
export function resolveAuthSecret(config: Config): string {
  if (config.authSecret) return config.authSecret;
  if (!config.embedded) throw new Error('AUTH_SECRET is required when DATABASE_URL is set');
  const file = path.join(config.dataDir, 'auth-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomToken(48);
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}
