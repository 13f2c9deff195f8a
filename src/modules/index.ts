import type { ModuleDef } from './module.js';
import { healthModule } from './health/index.js';

/**
 * The capability modules, in registration order. Each is an encapsulated plugin owning its routes,
 * schemas, service and store; add one line here per capability.
 */
export const MODULES: ModuleDef[] = [
  healthModule,
];
