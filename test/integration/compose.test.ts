import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ENV_VARIABLES, loadConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cli.js';

/** Self-hosting (DESIGN §1): docker-compose.yml starts postgres, redis and the app built by the Dockerfile. */
interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  ports?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const app = compose.services.app!;

// Values standing in for what the operator supplies (`${VAR:?…}` and bare `${VAR}`).
const SUPPLIED: Record<string, string> = { AUTH_SECRET: 'operator-supplied-secret-0123456789abcdef0123' };

/** Compose variable interpolation: `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR}`. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    if (op?.endsWith('-')) return arg;
    const supplied = SUPPLIED[name];
    if (supplied === undefined) throw new Error(`no stand-in value for \${${name}}`);
    return supplied;
  });
}

const appEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(app.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));

describe('docker-compose.yml', () => {
  it('has postgres, redis and the app', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'postgres', 'redis']);
    expect(compose.services.postgres!.image).toMatch(/^postgres:15/);
    expect(compose.services.redis!.image).toMatch(/^redis:7/);
    expect(app.build, 'the app is built from the Dockerfile').toBeDefined();
  });

  it('gives every service a health check, and the stores volumes', () => {
    for (const name of ['postgres', 'redis']) expect(compose.services[name]!.healthcheck?.test, `${name} has no healthcheck`).toBeTruthy();
    expect(JSON.stringify(compose.services.postgres!.healthcheck!.test)).toMatch(/pg_isready/);
    expect(JSON.stringify(compose.services.redis!.healthcheck!.test)).toMatch(/ping/);
    // The app's is the image's HEALTHCHECK (one definition; it follows PORT and AUTH_BASE_PATH).
    expect(app.healthcheck, 'the app uses the Dockerfile HEALTHCHECK').toBeUndefined();
    for (const name of ['postgres', 'redis']) {
      const vol = compose.services[name]!.volumes?.[0]?.split(':')[0];
      expect(vol, `${name} keeps its data in a named volume`).toBeTruthy();
      expect(Object.keys(compose.volumes ?? {})).toContain(vol);
    }
  });

  it('starts the app only once postgres and redis are healthy', () => {
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  it('publishes port 3000 (host side set by AUTHPLANE_PUBLISH) and listens on all interfaces inside the container', () => {
    expect(app.ports).toEqual(['${AUTHPLANE_PUBLISH:-3000}:3000']);
    expect(app.ports!.map(interpolate)).toEqual(['3000:3000']);
    expect(app.environment?.HOST).toBe('0.0.0.0');
  });

  it('sets only variables the server knows', () => {
    const unknown = Object.keys(app.environment ?? {}).filter((k) => !ENV_VARIABLES.includes(k));
    expect(unknown, 'unknown config variables in the app service').toEqual([]);
  });

  it('refuses to start without AUTH_SECRET (no default secret ships)', () => {
    expect(String(app.environment?.AUTH_SECRET)).toMatch(/^\$\{AUTH_SECRET:\?[^}]+\}$/);
    expect(String(app.environment?.AUTH_SECRET)).not.toMatch(/\$\(/); // `$(` is an invalid compose template
  });

  it("the app's environment passes loadConfig, in production mode", () => {
    const config = loadConfig(appEnv());
    expect(config.embedded).toBe(false);
    expect(config.databaseUrl).toMatch(/@postgres:5432\//);
    expect(config.redisUrl).toBe('redis://redis:6379');
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(3000);
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs production dependencies only, as a non-root user', () => {
    expect(dockerfile.match(/^FROM node:20-bookworm-slim/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^RUN npm run build && npm prune --omit=dev /m);
    // The hosted pages' CSS and scripts are not TypeScript: the build copies every assets folder into dist.
    expect(dockerfile).toMatch(/^COPY scripts\/copy-assets.mjs /m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
    expect(dockerfile).not.toMatch(/npm ci --omit=dev/); // the runtime stage neither installs nor compiles
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/^COPY migrations \.\/migrations$/m);
    expect(dockerfile).toMatch(/^COPY bin \.\/bin$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/NODE_ENV=production/);
  });

  it('checks its health over HTTP and starts the server', () => {
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*\/health/m);
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/authplane\.js", "serve"\]$/m);
  });
});
