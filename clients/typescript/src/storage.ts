/**
 * Where the client keeps the refresh token between page loads or process restarts. The access token
 * is never stored: it lives in the client's memory only. Methods may be sync or async.
 */
export interface RefreshTokenStorage {
  get(): string | null | undefined | Promise<string | null | undefined>;
  /** `null` removes the token (sign-out, or a session the server no longer knows). */
  set(token: string | null): void | Promise<void>;
}

/** Keeps the refresh token in memory only (the default): nothing survives a reload. */
export function memoryStorage(): RefreshTokenStorage {
  let token: string | null = null;
  return { get: () => token, set: (v) => { token = v; } };
}

/** The subset of the Web Storage API the adapter needs (`localStorage`, `sessionStorage`). */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Keeps the refresh token in a Web Storage area under `key`. Any script on the origin can read
 * it there (XSS); prefer memory or a server-side session where that matters.
 */
export function webStorage(area: WebStorageLike, key = 'authplane.refreshToken'): RefreshTokenStorage {
  return {
    get: () => area.getItem(key),
    set: (v) => { if (v === null) area.removeItem(key); else area.setItem(key, v); },
  };
}
