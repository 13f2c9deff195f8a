import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { createPgliteSql } from '../../src/db/pglite.js';
import { runCli, startServer, tempDir } from '../helpers/cli.js';

/**
 * The CLI (`npx authplane <command>`) on the embedded default: one DATA_DIR, used in sequence as an
 * operator would. Each command opens PGlite (~1–3 s), so the steps share one directory and stay few.
 */
const data = tempDir('authplane-cli-');
const env = { DATA_DIR: data.dir };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

afterAll(() => data.remove());

// Each step spawns a process that opens PGlite: generous limits for a loaded CI machine.
const SLOW = 180_000;

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at\s|node:internal|\.ts:\d+:\d+/);

describe('authplane CLI (embedded)', () => {
  let tenantId: string;

  beforeAll(async () => {
    // The first command creates and migrates the database.
    const r = await runCli(['create-tenant', '--slug', 'acme', '--name', 'Acme'], env);
    expect(r.code, r.stderr).toBe(0);
    tenantId = JSON.parse(r.stdout).id;
  }, SLOW);

  it('create-tenant prints the tenant as JSON with its id', async () => {
    expect(tenantId).toMatch(UUID);
  }, SLOW);

  it('usage errors exit 2 with a clear message and no stack (no database opened)', async () => {
    const [tooLong, missingName, unknown, badSlug] = await Promise.all([
      runCli(['create-admin-key', '--name', 'ops', '--expires-in-days', '400'], env),
      runCli(['create-tenant', '--slug', 'beta'], env),
      runCli(['frobnicate'], env),
      runCli(['create-tenant', '--slug', 'Not A Slug', '--name', 'x'], env),
    ]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/--expires-in-days must be a whole number from 1 to 365/);
    expect(tooLong.stdout).toBe('');
    expect(missingName.code).toBe(2);
    expect(missingName.stderr).toMatch(/--name is required/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect(badSlug.code).toBe(2);
    expect(badSlug.stderr).toMatch(/--slug must be/);
    for (const r of [tooLong, missingName, unknown, badSlug]) noStack(r.stderr);
  }, SLOW);

  it('create-admin-key prints an ak_ key on stdout, once, and its details on stderr', async () => {
    const r = await runCli(['create-admin-key', '--name', 'ops', '--expires-in-days', '30'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ak_[A-Za-z0-9_-]{43}\n$/);
    expect(r.stderr).toMatch(/admin key "ops".*expires.*shown once/);
    expect(r.stderr).not.toContain(r.stdout.trim());
  }, SLOW);

  it('migrate says the database is up to date', async () => {
    const r = await runCli(['migrate'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('up to date\n');
  }, SLOW);

  it('while a server runs on the DATA_DIR, commands refuse and say how to fix it', async () => {
    const server = await startServer(env);
    try {
      const [key, second] = await Promise.all([
        runCli(['create-admin-key', '--name', 'ops2', '--expires-in-days', '30'], env),
        runCli(['serve'], { ...env, PORT: '0' }),
      ]);
      expect(key.code).not.toBe(0);
      expect(key.stdout).toBe('');
      expect(key.stderr).toMatch(/in use by a running server \(pid \d+\)/);
      expect(key.stderr).toMatch(/Stop the server, run this command, then start it again/);
      noStack(key.stderr);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/another server \(pid \d+\) is using the embedded database/);
      // The running server was not disturbed.
      expect((await fetch(`${server.url}/auth/health`)).status).toBe(200);
      const t = await fetch(`${server.url}/auth/discovery`, { headers: { 'x-tenant-id': 'acme' } });
      expect(t.status).toBe(200);
    } finally {
      const { code } = await server.stop();
      expect(code).toBe(0);
    }
  }, SLOW);

  it('audit-verify prints a signed head per chain, and sees the newest rows deleted (the head is kept in DATA_DIR)', async () => {
    const second = await runCli(['create-admin-key', '--name', 'ops3', '--expires-in-days', '30'], env);
    expect(second.code, second.stderr).toBe(0);
    const ok = await runCli(['audit-verify'], env);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/audit log intact\n$/);
    const head = /^head platform seq=\d+: (ah1\.platform\.\S+)$/m.exec(ok.stdout)?.[1];
    expect(head, ok.stdout).toBeDefined();
    // Someone with database access deletes the newest platform row (the admin_key.create of ops3).
    const sql = await createPgliteSql(path.join(data.dir, 'pgdata'));
    try {
      const r = await sql.ownerQuery('DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events WHERE tenant_id IS NULL)');
      expect(r.rowCount).toBe(1);
    } finally {
      await sql.close();
    }
    const cut = await runCli(['audit-verify', '--expect-head', head!], env);
    expect(cut.code, cut.stdout + cut.stderr).toBe(3);
    expect(cut.stdout).toMatch(/BROKEN chain platform: at seq=\d+ \(truncated\)/);
    expect(cut.stdout).toMatch(/BROKEN chain platform: at seq=\d+ \(kept_head_missing\)/);
  }, SLOW);

  it('audit-verify reports a tampered audit row and exits 3', async () => {
    // The admin key creation above wrote a platform audit event; edit it behind the app's back.
    const sql = await createPgliteSql(path.join(data.dir, 'pgdata'));
    try {
      const r = await sql.ownerQuery("UPDATE audit_events SET outcome = 'failure' WHERE action = 'admin_key.create'");
      expect(r.rowCount).toBeGreaterThan(0);
    } finally {
      await sql.close();
    }
    const verify = await runCli(['audit-verify'], env);
    expect(verify.code, verify.stderr).toBe(3);
    expect(verify.stdout).toMatch(/BROKEN chain platform: first bad row seq=\d+ id=\S+ \(hash_mismatch\)/);
  }, SLOW);
});
