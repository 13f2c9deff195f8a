import type { BaseDeps } from './deps.js';
import type { Authenticators } from './http/guard.js';
import type { Unsubscribe } from './kv/kv.js';

/**
 * The capability services shared by routes, MCP tools and the CLI. Each capability adds its service
 * here; routes receive them through their module's options.
 */
export interface Services {
  stop?: () => Promise<void>;
  /** Makes a new active signing key; returns its kid. */
  rotateSigningKey?: () => Promise<string>;
}

export async function createServices(base: BaseDeps): Promise<{ services: Services; authenticators: Authenticators }> {
  const subscriptions: Unsubscribe[] = [];
  subscriptions.push(await base.tenants.start());
  const services: Services = {
    async stop() {
      await Promise.all(subscriptions.map((u) => u().catch(() => {})));
    },
  };
  const authenticators: Authenticators = {
    accessToken: async () => {
      throw new (await import('./http/errors.js')).AppError('invalid_token', 'Access tokens are not accepted by this build.');
    },
    apiKey: async () => null,
    adminKey: (key) => base.adminKeys.verify(key),
  };
  return { services, authenticators };
}
