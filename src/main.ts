#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp } from './server.js';
import { createDeps, openSql, type Deps } from './deps.js';
import type { Logger } from 'pino';
import { migrate, MigrationError } from './db/migrate.js';
import { acquireLock, lockHolder } from './embedded-lock.js';
import { TenantSlug } from './modules/tenants/schemas.js';
import { isConnectionError } from './db/errors.js';
import { startMetricsServer } from './modules/metrics/metrics-server.js';
import { stopTracing } from './modules/tracing/tracing.js';

const USAGE = `authplane <command> [options]

Commands:
  serve                                   migrate, then start the HTTP server
  migrate                                 apply pending database migrations
  create-tenant --slug <slug> --name <n>  create a tenant
  create-admin-key --name <n> --expires-in-days <1-365>
                                          create an admin key (printed once)
  rotate-signing-key                      make a new active access-token signing key
  audit-verify [--expect-head <head>]...  check the audit log's chains (keyed with AUTH_SECRET) against
                                          their signed heads; prints each chain's current head: keep
                                          them, and pass them back later with --expect-head

Configuration comes from the environment (see README). In embedded mode (no DATABASE_URL) the
commands other than serve need the server to be stopped: PGlite allows one process at a time.`;

class UsageError extends Error {}

function fail(message: string, code = 1): never {
  process.stderr.write(`authplane: ${message}\n`);
  process.exit(code);
}

/**
 * Opens the database, applies pending migrations, then builds the deps on it: services read their
 * tables while they are built, so migrating after createDeps would fail on a fresh database.
 */
async function openMigrated(config: Readonly<Config>, log?: Logger): Promise<{ deps: Deps; applied: string[] }> {
  const sql = await openSql(config);
  try {
    const applied = await migrate(sql);
    const deps = await createDeps(config, { sql, log, onClose: () => sql.close() });
    return { deps, applied };
  } catch (err) {
    await sql.close().catch(() => {});
    throw err;
  }
}

/** Opens the deps for a one-shot command, refusing when a running server holds the embedded database. */
async function withDeps<T>(config: Readonly<Config>, fn: (deps: Deps, applied: string[]) => Promise<T>): Promise<T> {
  if (config.embedded) {
    const pid = lockHolder(config.dataDir);
    if (pid) {
      fail(`the embedded database in ${config.dataDir} is in use by a running server (pid ${pid}). ` +
        'Stop the server, run this command, then start it again (or run with DATABASE_URL against Postgres).');
    }
  }
  const { deps, applied } = await openMigrated(config, (await import('./http/logger.js')).createLogger('warn'));
  try {
    return await fn(deps, applied);
  } finally {
    await deps.close();
  }
}

async function serve(config: Readonly<Config>): Promise<void> {
  if (config.embedded) {
    const pid = lockHolder(config.dataDir);
    if (pid) fail(`another server (pid ${pid}) is using the embedded database in ${config.dataDir}`);
  }
  const release = config.embedded ? acquireLock(config.dataDir) : () => {};
  let deps: Deps;
  try {
    const opened = await openMigrated(config);
    deps = opened.deps;
    if (opened.applied.length) deps.log.info({ applied: opened.applied }, 'migrations applied');
  } catch (err) {
    release();
    fail(err instanceof MigrationError ? `migrations failed: ${err.message}` : `cannot start: ${(err as Error).message}`);
  }
  if (config.embedded || !config.redisUrl) {
    deps.log.warn(`embedded mode (${config.embedded ? 'PGlite' : 'Postgres'} + ${config.redisUrl ? 'Redis' : 'in-process store'}): ` +
      'single instance only; set DATABASE_URL and REDIS_URL to run several instances');
  }
  const app = await buildApp(config, { deps });
  app.addHook('onClose', async () => { await deps.close(); release(); });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    deps.log.info({ signal }, 'shutting down: finishing in-flight requests');
    app.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => deps.log.error({ err }, 'unhandled rejection'));
  // The last line of defence (issue 26): an error nothing handled. A dependency's connection dropping
  // outside any request (its clients reconnect) leaves the process sound: logged, and it keeps serving.
  // Anything else leaves it in an unknown state: logged as fatal, in-flight requests get up to 5 s, and
  // the process exits 1, so the supervisor (docker compose `restart`, systemd, Kubernetes) starts a new one.
  process.on('uncaughtException', (err, origin) => {
    if (isConnectionError(err)) {
      deps.log.error({ err, origin }, 'a dependency connection failed outside any request; still serving');
      return;
    }
    deps.log.fatal({ err, origin }, 'uncaught exception: exiting with status 1 for the supervisor to restart the process');
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => process.exit(1), 5000).unref();
    app.close().finally(() => process.exit(1));
  });
  // Operations (README): the metrics listener starts before the API's, so a failure to bind it stops the start.
  if (config.tracing.endpoint) app.addHook('onClose', () => stopTracing());
  if (config.metrics.port !== undefined) {
    try {
      const metrics = await startMetricsServer({ host: config.metrics.host, port: config.metrics.port, log: deps.log });
      app.addHook('onClose', () => metrics.close());
      deps.log.info({ host: metrics.address.address, port: metrics.address.port }, 'metrics listening on /metrics');
    } catch (err) {
      release();
      fail(`cannot listen for metrics on ${config.metrics.host}:${config.metrics.port}: ${(err as Error).message}`);
    }
  }
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    release();
    fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
  }
  // Only the server delivers webhooks (not the one-shot CLI commands); WEBHOOK_WORKER=false turns it off here too.
  deps.services.webhooks.start();
  injectTestFault();
}

/**
 * Test-only fault points (test/integration/resilience), honoured only when NODE_ENV=test AND
 * AUTHPLANE_TEST_FAULT names one, so no production setting can enable them by accident:
 * - `uncaught-connection-error` / `uncaught-error`: throws that error outside any request, once, 1 s after listening.
 */
function injectTestFault(): void {
  if (process.env.NODE_ENV !== 'test') return;
  const fault = process.env.AUTHPLANE_TEST_FAULT;
  if (fault === 'uncaught-connection-error') {
    setTimeout(() => { throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }); }, 1000);
  } else if (fault === 'uncaught-error') {
    setTimeout(() => { throw new Error('injected fault carrying ck_InjectedFaultSecret0123456789 in its message'); }, 1000);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`, 2);
    throw err;
  }
  const { values } = parseArgs({
    args: rest,
    options: { slug: { type: 'string' }, name: { type: 'string' }, 'expires-in-days': { type: 'string' }, 'expect-head': { type: 'string', multiple: true } },
    strict: true,
  });
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate':
      return withDeps(config, async (_deps, applied) => {
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
      });
    case 'create-tenant': {
      const slug = TenantSlug.safeParse(values.slug);
      if (!slug.success) throw new UsageError(`--slug ${slug.error.issues[0]!.message}`);
      if (!values.name) throw new UsageError('--name is required');
      return withDeps(config, async (deps) => {
        const t = await deps.tenants.create({ slug: slug.data, name: values.name! });
        process.stdout.write(`${JSON.stringify({ id: t.id, slug: t.slug, name: t.name })}\n`);
      });
    }
    case 'create-admin-key': {
      if (!values.name) throw new UsageError('--name is required');
      const days = Number(values['expires-in-days']);
      if (!values['expires-in-days'] || !Number.isInteger(days) || days < 1 || days > 365) throw new UsageError('--expires-in-days must be a whole number from 1 to 365');
      return withDeps(config, async (deps) => {
        const k = await deps.adminKeys.create({ name: values.name!, expiresInDays: days });
        process.stdout.write(`${k.key}\n`);
        process.stderr.write(`admin key "${k.name}" (id ${k.id}) expires ${k.expiresAt.toISOString()}. It is shown once; store it now.\n`);
      });
    }
    case 'rotate-signing-key':
      return withDeps(config, async (deps) => {
        if (config.jwtAlg === 'HS256') fail('JWT_ALG=HS256 signs with JWT_SECRET; rotate by changing the secret');
        const kid = await deps.services.rotateSigningKey();
        process.stdout.write(`new active signing key: ${kid}\n`);
      });
    case 'audit-verify':
      return withDeps(config, async (deps) => {
        const { breaks, heads, notices } = await deps.audit.verify({ expectHeads: values['expect-head'] ?? [] });
        for (const n of notices) process.stdout.write(`NOTICE ${n}\n`);
        for (const h of heads) process.stdout.write(`head ${h.tenantId ?? 'platform'} seq=${h.seq}: ${h.head}\n`);
        if (!breaks.length) {
          process.stdout.write('audit log intact\n');
          return;
        }
        for (const b of breaks) {
          const where = b.seq === null ? '' : b.problem === 'truncated' || b.problem === 'kept_head_missing' ? ` at seq=${b.seq}` : ` first bad row seq=${b.seq} id=${b.id}`;
          process.stdout.write(`BROKEN chain ${b.tenantId ?? 'platform'}:${where} (${b.problem})${b.detail ? ` ${b.detail}` : ''}\n`);
        }
        process.exitCode = 3;
      });
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  fail((err as Error).message ?? String(err));
});
