#!/usr/bin/env node
// Runs the compiled CLI when built (npm run build), otherwise the TypeScript source through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { availableParallelism } from 'node:os';

// argon2 hashes, WebCrypto signing (every sign-in's access token) and fs share libuv's threadpool (4 threads
// by default): keep room beside the hash pool, or token signing queues behind hashes. Read by libuv on its
// first use, so it must be set before anything touches the pool. Same default pool size as src/config.ts.
if (!process.env.UV_THREADPOOL_SIZE) {
  const pool = Number(process.env.ARGON2_MAX_CONCURRENCY) || Math.max(1, availableParallelism() - 1);
  process.env.UV_THREADPOOL_SIZE = String(Math.min(1024, Math.max(4, pool + 2)));
}

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const built = path.join(root, 'dist', 'main.js');
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'src', 'main.ts')).href);
}
