import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createPgliteSql } from '../../src/db/pglite.js';
import { migrate } from '../../src/db/migrate.js';

// `pgliteTemplate` is declared on vitest's ProvidedContext in backend.ts, which reads it.
import type {} from './backend.js';

/**
 * Once per run, on the embedded backend: migrate one PGlite and dump its data directory. Every test file's
 * fresh database starts from that dump (test/helpers/backend.ts) instead of its own initdb and migrations,
 * which were most of an embedded file's start-up. The dump is made from this checkout's migrations, so it
 * cannot be stale; the migration tests still start from an empty database.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  if ((process.env.TEST_BACKEND ?? 'embedded') !== 'embedded') {
    project.provide('pgliteTemplate', '');
    return () => {};
  }
  const sql = await createPgliteSql();
  await migrate(sql);
  const dump = await sql.dumpDataDir();
  await sql.close();
  const file = path.join(tmpdir(), `authplane-pglite-template-${process.pid}.tar`);
  writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
  project.provide('pgliteTemplate', file);
  return () => rmSync(file, { force: true });
}
