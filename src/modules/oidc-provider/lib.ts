/**
 * The one place `oidc-provider` is loaded (its values; types may be imported from the package directly).
 *
 * At import the library prints "oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS" on stderr
 * when Node is older than 22 LTS. Authplane supports Node ≥ 20.10 and its whole suite, the provider's flows
 * included, runs on Node 20, so that line would only be noise on every command (`authplane migrate`, a config
 * error's one-line message). It is dropped; any other output of the library passes through.
 * docs/operations.md recommends Node 22 LTS for the OpenID Provider.
 */
const RUNTIME_NOTICE = 'oidc-provider WARNING: Unsupported runtime';
const warn = console.warn;
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes(RUNTIME_NOTICE)) return;
  warn(...args);
};
const lib = await import('oidc-provider').finally(() => { console.warn = warn; });

export const Provider = lib.default;
export const errors = lib.errors;
export const interactionPolicy = lib.interactionPolicy;
