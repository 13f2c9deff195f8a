import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * PGlite cannot be opened by two processes at once. The server holds DATA_DIR/server.lock while it
 * runs; the CLI (and a second server) refuse to open the embedded database while a live process holds it.
 */
export function lockFile(dataDir: string): string {
  return path.join(dataDir, 'server.lock');
}

/** The pid of a live process holding the lock, or null. */
export function lockHolder(dataDir: string): number | null {
  const file = lockFile(dataDir);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

export function acquireLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(lockFile(dataDir), String(process.pid));
  return () => rmSync(lockFile(dataDir), { force: true });
}
