import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config.js';
import type { Deps } from '../deps.js';

/** What a capability contributes to GET /auth/discovery (merged under `capabilities.<name>`). */
export type DiscoveryFragment = Record<string, unknown>;

/** A capability module: one encapsulated Fastify plugin plus its discovery entry. */
export interface ModuleDef {
  name: string;
  /** 'base' (default): mounted under AUTH_BASE_PATH; 'root': at the server root (/.well-known, /mcp). */
  mount?: 'base' | 'root';
  plugin: FastifyPluginAsync<{ deps: Deps }>;
  discovery?: (config: Readonly<Config>) => DiscoveryFragment;
}
