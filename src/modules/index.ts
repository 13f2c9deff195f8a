import type { ModuleDef } from './module.js';
import { healthModule } from './health/index.js';
import { jwksModule } from './tokens/index.js';
import { passwordModule } from './password/index.js';
import { sessionsModule } from './sessions/index.js';

/**
 * The capability modules, in registration order. Each is an encapsulated plugin owning its routes,
 * schemas, service and store; add one line here per capability.
 */
export const MODULES: ModuleDef[] = [
  healthModule,
  jwksModule,
  passwordModule,
  sessionsModule,
];
