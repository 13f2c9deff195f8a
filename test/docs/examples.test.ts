import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { BACKEND } from '../helpers/backend.js';
import { freePort, ROOT } from '../helpers/cli.js';
import { docPages, shellBlocks, type ShellBlock } from './markdown.js';

/**
 * The documentation's examples run (issue 22): every ```sh block of README.md and docs/*.md is executed,
 * per page, in order, in one bash session with `set -euo pipefail`, against a server started here on the
 * current backend (embedded by default; Postgres + Redis under `npm run test:services`), whose base URL is
 * `$AUTHPLANE_URL`. Variables set by one block are seen by the next ones of the same page. One server
 * serves every page (a server per page cost ~5 s each, twice in CI), so each page signs up its own
 * addresses: an address used on two pages fails the first test. The session also has:
 * - `$AUTHPLANE_DATA_DIR`: the server's DATA_DIR, whose outbox/ holds the mails (no SMTP_URL);
 * - `$ADMIN_KEY`: an admin key (`ak_…`), as `npx authplane create-admin-key` prints.
 * ```sh no-run blocks (they need Google, a browser, a cluster or another process) are skipped; each must
 * say why in the prose just before it or after `no-run` on the fence line.
 */

const PAGE_TIMEOUT_MS = 90_000;

interface RunResult { code: number | null; stdout: string; stderr: string; failedBlock: number | null }

/** One bash session for the page's runnable blocks; marks the block being run so a failure names it. */
function runPage(blocks: ShellBlock[], env: Record<string, string>, cwd: string): Promise<RunResult> {
  const script = [
    'set -euo pipefail',
    // the commands are traced to stderr, shown only when the page fails
    'set -x',
    '__block=0',
    "trap 'status=$?; if [ $status -ne 0 ]; then echo \"__failed_block=$__block\" >&2; fi' EXIT",
    ...blocks.flatMap((b, i) => [`{ __block=${i + 1}; } 2>/dev/null`, b.code]),
    '',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), PAGE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /__failed_block=(\d+)/.exec(stderr);
      resolve({ code, stdout, stderr: stderr.replace(/__failed_block=\d+\n?/, ''), failedBlock: m ? Number(m[1]) : null });
    });
  });
}

const pages = docPages().map((page) => ({ page, blocks: shellBlocks(page) }));
const runnable = pages.filter((p) => p.blocks.some((b) => b.kind === 'run'));
const noRun = pages.flatMap((p) => p.blocks.filter((b) => b.kind === 'no-run'));

describe(`documentation examples (${BACKEND})`, () => {
  let t: TestApp;
  let env: Record<string, string>;
  let home: string;
  let clockSync: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    t = await createTestApp({ env: { PUBLIC_URL: origin } });
    // The test app's clock is manual; a reader's server runs on real time (TOTP codes, token expiry).
    clockSync = setInterval(() => t.clock.set(Date.now()), 50);
    await t.app.listen({ port, host: '127.0.0.1' });
    const admin = await t.deps.adminKeys.create({ name: 'docs-examples', expiresInDays: 1 });
    home = mkdtempSync(path.join(tmpdir(), 'authplane-examples-'));
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      LANG: 'C.UTF-8',
      AUTHPLANE_URL: origin,
      AUTHPLANE_DATA_DIR: t.config.dataDir,
      ADMIN_KEY: admin.key,
    };
  });

  afterAll(async () => {
    clearInterval(clockSync);
    if (home) rmSync(home, { recursive: true, force: true });
    await t?.close();
  });

  it('each page signs up its own addresses (the server is shared)', () => {
    const owner = new Map<string, string>();
    const clashes: string[] = [];
    for (const { page, blocks } of runnable) {
      const mine = new Set(blocks.filter((b) => b.kind === 'run').flatMap((b) => b.code.match(/[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+\.[a-z]+/g) ?? []));
      for (const address of mine) {
        const other = owner.get(address);
        if (other && other !== page) clashes.push(`${address}: ${other} and ${page}`);
        owner.set(address, page);
      }
    }
    expect(clashes).toEqual([]);
  });

  it('lists its no-run blocks, each with a reason next to it', () => {
    console.info(`[examples] ${runnable.reduce((n, p) => n + p.blocks.filter((b) => b.kind === 'run').length, 0)} runnable blocks on ${runnable.length} pages; ${noRun.length} no-run: ${noRun.map((b) => `${b.page}:${b.line}`).join(', ')}`);
    for (const b of noRun) {
      const prose = `${b.info} ${b.before.replace(/```[\s\S]*?```/g, '')}`.replace(/[#>*|`\s-]/g, '');
      expect(prose.length, `${b.page}:${b.line}: a no-run block must say why (in the sentence before it or after "no-run")`).toBeGreaterThan(20);
    }
    expect(runnable.length).toBeGreaterThan(5);
  });

  for (const { page, blocks } of runnable) {
    it(`${page}: every sh block runs`, async () => {
      const run = blocks.filter((b) => b.kind === 'run');
      const r = await runPage(run, env, ROOT);
      const failed = r.failedBlock ? run[r.failedBlock - 1] : undefined;
      const where = failed ? `${page}:${failed.line}` : page;
      expect(r.code, `${where} failed (exit ${r.code}):\n--- block ---\n${failed?.code ?? '(unknown)'}\n--- stdout (tail) ---\n${r.stdout.slice(-2000)}\n--- stderr (tail, with the commands traced) ---\n${r.stderr.slice(-3000)}`).toBe(0);
    }, PAGE_TIMEOUT_MS + 10_000);
  }
});
