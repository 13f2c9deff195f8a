import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import { serializerCompiler } from './http/serializer.js';
import { validatorCompiler } from './http/validator.js';
import type { Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { genRequestId } from './http/request-id.js';
import { onFrameworkError, registerErrorHandler } from './http/error-handler.js';
import { registerJsonParser } from './http/json-parser.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { registerTenantResolution } from './http/tenant.js';
import { assertRoutesDeclareAuth, registerGuard } from './http/guard.js';
import { registerCors } from './http/cors.js';
import { registerOpenApi } from './http/openapi.js';
import { registerRequestLog } from './http/request-log.js';
import { lazyChildren } from './http/logger.js';
import { registerGracefulClose } from './http/graceful-close.js';
import { registerWriteCoalescing } from './http/coalesce-writes.js';
import { registerStepUpGate } from './http/step-up.js';
import { MODULES } from './modules/index.js';
import { discoveryModule } from './modules/discovery/index.js';
import { apiDocsModule } from './modules/api-docs/index.js';
import { declareRateLimitStatuses, registerBanCheck, registerRateLimit } from './modules/rate-limit/hooks.js';
import { trustProxyOption } from './modules/rate-limit/client-ip.js';
import { declareIdempotencyStatuses, registerIdempotency } from './modules/idempotency/hooks.js';
import type { ModuleDef } from './modules/module.js';
import { registerRouteConfig } from './http/route-config.js';
import { createConnectionLimits } from './http/connection-limits.js';
import { enableMetrics } from './modules/metrics/registry.js';
import { registerHttpMetrics } from './modules/metrics/http-metrics.js';
import { startTracing } from './modules/tracing/tracing.js';
import { registerRequestTracing } from './modules/tracing/spans.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface BuildOptions {
  /** Use these deps (tests share stores between two app instances); default: createDeps(config). */
  deps?: Deps;
  /** Extra modules (tests mount probe routes). */
  extraModules?: ModuleDef[];
}

/** Builds the whole app without listening: `app.deps` holds its stores and services. */
export async function buildApp(config: Readonly<Config>, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const deps = opts.deps ?? (await createDeps(config));
  // Slow clients and connection floods: bounds on how long a request may take to arrive, caps on open
  // connections (total and per client address), Node's own 408/431/400 in our error shape.
  const connections = createConnectionLimits(config.connections, deps.log);
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: genRequestId,
    requestIdHeader: false,
    // The trusted proxies' addresses, or a hop count behind a private peer; never `true` (refused by the config).
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: connections.requestTimeout,
    http: connections.serverOptions,
    clientErrorHandler: connections.onClientError,
    // Requests arriving during the drain are served with Connection: close (see graceful-close.ts).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 256 },
    frameworkErrors: onFrameworkError,
  }) as unknown as FastifyInstance;

  connections.attach(app.server);
  lazyChildren(app.log);
  app.decorate('deps', deps);
  registerRouteConfig(app);
  // Operations (README "Operations"): the request span first, so every later hook and the handler run in its context.
  if (config.tracing.endpoint) {
    await startTracing({ endpoint: config.tracing.endpoint, serviceName: config.tracing.serviceName });
    registerRequestTracing(app);
  }
  if (config.metrics.port !== undefined) {
    enableMetrics();
    registerHttpMetrics(app);
  }
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);
  registerJsonParser(app);
  registerRequestLog(app);
  registerGracefulClose(app);
  registerSecurityHeaders(app);
  await app.register(cookie);
  await registerOpenApi(app);
  assertRoutesDeclareAuth(app);
  declareRateLimitStatuses(app, config.basePath);
  declareIdempotencyStatuses(app);
  // CORS answers preflights before tenant resolution and the guard.
  registerCors(app, deps.tenants);
  // request id → security headers → (ban) → tenant → rate limit → credential guard → (step-up gate, idempotency: preHandler)
  registerBanCheck(app, deps);
  registerTenantResolution(app, deps.tenants);
  registerRateLimit(app, deps);
  registerGuard(app, deps);
  // the TOTP gate (preHandler, after body validation) runs before an idempotency claim is made
  registerStepUpGate(app);
  registerIdempotency(app, deps);
  registerWriteCoalescing(app);

  const modules = [...MODULES, ...(opts.extraModules ?? [])];
  const fragments = Object.fromEntries(modules.filter((m) => m.discovery).map((m) => [m.name, m.discovery!(config)]));
  const all = [...modules, discoveryModule(fragments, () => app.swagger()), apiDocsModule(() => app.swagger())];
  for (const m of all) {
    await app.register(m.plugin, { deps, prefix: m.mount === 'root' ? '' : config.basePath });
  }
  if (!opts.deps) app.addHook('onClose', async () => deps.close());
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: Deps;
  }
}
