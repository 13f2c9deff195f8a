import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, defaultMaxConnections, ENV_VARIABLES, loadConfig, openFileLimit } from '../../src/config.js';
import { ROOT, runCli, tempDir } from '../helpers/cli.js';
import os from 'node:os';

const SECRET = 's'.repeat(32);

/** Loads the config and returns the ConfigError it throws. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig: defaults', () => {
  it('an empty environment is the embedded default (DESIGN §6)', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000, host: '127.0.0.1', basePath: '/auth', dataDir: './.data', jwtAlg: 'EdDSA', trustProxy: false,
      logLevel: 'info', embedded: true, publicUrl: 'http://localhost:3000', kvPrefix: 'ap:',
    });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    // Operations are off unless asked for; the metrics listener would bind to loopback.
    expect(c.metrics).toEqual({ port: undefined, host: '127.0.0.1' });
    expect(c.tracing).toEqual({ endpoint: undefined, serviceName: 'authplane' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('empty strings count as unset', () => {
    const c = loadConfig({ PORT: '', TRUST_PROXY: '', DATABASE_URL: '', REDIS_URL: '', AUTH_SECRET: '', ARGON2_MAX_CONCURRENCY: '', KV_PREFIX: '' });
    expect(c).toMatchObject({ port: 3000, trustProxy: false, embedded: true, argon2MaxConcurrency: Math.max(1, os.availableParallelism() - 1), kvPrefix: 'ap:' });
    expect(c).toMatchObject({ argon2DummyQueue: 4, argon2QueuePerClient: 8 });
  });

  it('parses TRUST_PROXY as false, a hop count, or a list of IPs/CIDRs', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,::1, fd00::/8' }).trustProxy).toEqual(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8']);
  });

  it('accepts the production shape', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/authplane', REDIS_URL: 'redis://redis:6379', AUTH_SECRET: SECRET,
      PUBLIC_URL: 'https://auth.example.com/', HOST: '0.0.0.0', PORT: '8080', JWT_ALG: 'HS256', JWT_SECRET: 'j'.repeat(32),
    });
    expect(c).toMatchObject({ embedded: false, port: 8080, publicUrl: 'https://auth.example.com', jwtAlg: 'HS256' });
  });

  it('slow-client bounds and connection caps: 10 s / 30 s; 256 per address; 10,000 in all, fewer when the open-file limit is lower', () => {
    expect(loadConfig({}).connections).toEqual({
      headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: defaultMaxConnections(), maxConnectionsPerAddress: 256,
    });
    expect(defaultMaxConnections(1_048_576)).toBe(10_000);
    expect(defaultMaxConnections(undefined)).toBe(10_000);
    expect(defaultMaxConnections(4096)).toBe(3840);
    expect(defaultMaxConnections(1024)).toBe(768);
    expect(defaultMaxConnections(100)).toBe(64);
    if (process.platform === 'linux') expect(openFileLimit()).toBeGreaterThan(0);
    expect(loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '500', MAX_CONNECTIONS: '0', MAX_CONNECTIONS_PER_ADDRESS: '0' }).connections)
      .toEqual({ headersTimeoutMs: 500, requestTimeoutMs: 500, maxConnections: 0, maxConnectionsPerAddress: 0 });
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ SOMETHING_ELSE: 'x', PATH: '/bin' })).not.toThrow();
  });

  it('docs/configuration.md documents every variable (generated from the schema: npm run docs:config)', () => {
    const table = readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const missing = ENV_VARIABLES.filter((v) => !table.includes(`| \`${v}\` |`));
    expect(missing, 'run npm run docs:config (and give each new variable a description in src/config.ts)').toEqual([]);
  });

  it('lists every variable it reads', () => {
    for (const v of ['PORT', 'HOST', 'AUTH_BASE_PATH', 'PUBLIC_URL', 'DATABASE_URL', 'REDIS_URL', 'DATA_DIR', 'AUTH_SECRET', 'JWT_ALG',
      'JWT_SECRET', 'SMTP_URL', 'TRUST_PROXY', 'MCP_TOKEN', 'OAUTH_GOOGLE_CLIENT_ID', 'OAUTH_GOOGLE_CLIENT_SECRET', 'OAUTH_GOOGLE_ISSUER', 'LOG_LEVEL']) {
      expect(ENV_VARIABLES).toContain(v);
    }
  });
});

describe('loadConfig: each bad value stops the start, naming the variable', () => {
  const cases: [string, Record<string, string>, RegExp?][] = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '3000.5' }],
    ['PORT', { PORT: '0x10' }],
    ['HOST', { HOST: '' }],
    ['AUTH_BASE_PATH', { AUTH_BASE_PATH: 'auth' }],
    ['AUTH_BASE_PATH', { AUTH_BASE_PATH: '/auth/' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'not a url' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'ftp://auth.example.com' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/authplane', AUTH_SECRET: SECRET }],
    ['REDIS_URL', { REDIS_URL: 'http://redis:6379' }],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }],
    ['AUTH_SECRET', { AUTH_SECRET: 'too-short' }, /at least 32 bytes/],
    ['AUTH_SECRET', { DATABASE_URL: 'postgres://db/authplane' }, /required when DATABASE_URL/],
    ['JWT_ALG', { JWT_ALG: 'RS256' }],
    ['JWT_ALG', { JWT_ALG: 'none' }],
    ['JWT_SECRET', { JWT_ALG: 'HS256' }, /required with JWT_ALG=HS256/],
    ['JWT_SECRET', { JWT_ALG: 'HS256', JWT_SECRET: 'short' }, /32 bytes/],
    ['JWT_SECRET', { JWT_SECRET: 'j'.repeat(40) }, /only used with JWT_ALG=HS256/],
    ['SMTP_URL', { SMTP_URL: 'http://mail' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'true' }, /refused/],
    ['TRUST_PROXY', { TRUST_PROXY: 'TRUE ' }, /refused/],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '300.1.1.1' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.1/8/1' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'proxy.internal' }],
    ['TRUST_PROXY', { TRUST_PROXY: '-1' }],
    ['MCP_TOKEN', { MCP_TOKEN: 'short' }, /32 bytes/],
    ['OAUTH_GOOGLE_CLIENT_SECRET', { OAUTH_GOOGLE_CLIENT_ID: 'client' }],
    ['OAUTH_GOOGLE_ISSUER', { OAUTH_GOOGLE_ISSUER: 'accounts.google.com' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['KV_PREFIX', { KV_PREFIX: 'has space' }],
    ['ARGON2_MAX_CONCURRENCY', { ARGON2_MAX_CONCURRENCY: '0' }],
    ['ARGON2_DUMMY_QUEUE', { ARGON2_DUMMY_QUEUE: '257' }],
    ['ARGON2_QUEUE_PER_CLIENT', { ARGON2_QUEUE_PER_CLIENT: '0' }],
    ['SMTP_FROM', { SMTP_FROM: 'x' }],
    ['RATE_LIMIT_CREDENTIAL', { RATE_LIMIT_CREDENTIAL: 'lots' }],
    ['HTTP_HEADERS_TIMEOUT_MS', { HTTP_HEADERS_TIMEOUT_MS: '50' }],
    ['HTTP_HEADERS_TIMEOUT_MS', { HTTP_HEADERS_TIMEOUT_MS: '10s' }],
    ['HTTP_HEADERS_TIMEOUT_MS', { HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '15000' }, /not be more than HTTP_REQUEST_TIMEOUT_MS/],
    ['HTTP_REQUEST_TIMEOUT_MS', { HTTP_REQUEST_TIMEOUT_MS: '0' }],
    ['HTTP_REQUEST_TIMEOUT_MS', { HTTP_REQUEST_TIMEOUT_MS: '600001' }],
    ['MAX_CONNECTIONS', { MAX_CONNECTIONS: '-1' }],
    ['MAX_CONNECTIONS', { MAX_CONNECTIONS: 'many' }],
    ['MAX_CONNECTIONS_PER_ADDRESS', { MAX_CONNECTIONS_PER_ADDRESS: '1.5' }],
    ['METRICS_PORT', { METRICS_PORT: '65536' }],
    ['METRICS_PORT', { METRICS_PORT: 'nine' }],
    ['METRICS_PORT', { METRICS_PORT: '3000' }, /must differ from PORT/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }],
    ['OTEL_SERVICE_NAME', { OTEL_SERVICE_NAME: 'has space' }],
  ];

  it.each(cases)('%s: %j', (variable, env, pattern) => {
    const err = configError(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable} `)).toBe(true);
    expect(err.message).not.toMatch(/\n/);
    if (pattern) expect(err.message).toMatch(pattern);
  });

  it('never echoes a secret value in the message', () => {
    expect(configError({ AUTH_SECRET: 'hunter2-secret' }).message).not.toContain('hunter2');
    expect(configError({ JWT_ALG: 'HS256', JWT_SECRET: 'hunter2-jwt' }).message).not.toContain('hunter2');
    expect(configError({ DATABASE_URL: 'mysql://u:hunter2@db/x', AUTH_SECRET: SECRET }).message).not.toContain('hunter2');
  });
});

describe('the CLI with a bad environment', () => {
  it.each([
    ['PORT', { PORT: 'abc' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'true' }],
    ['AUTH_SECRET', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' }],
  ])('exits non-zero with one stderr line naming %s and no stack trace', async (variable, env) => {
    const data = tempDir();
    try {
      const r = await runCli(['serve'], { DATA_DIR: data.dir, ...env });
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(variable);
      expect(r.stderr).not.toMatch(/\s+at\s|Error:|node:internal|\.ts:\d+/);
      expect(r.stdout).toBe('');
    } finally {
      data.remove();
    }
  }, 120_000);
});
