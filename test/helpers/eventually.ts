/**
 * Polls `fn` until it returns `want` or `ms` pass (for what arrives asynchronously, e.g. a pub/sub
 * invalidation on another instance); returns the last answer, so the caller's assertion shows it.
 */
export async function eventually<T>(fn: () => Promise<T>, want: T, ms = 2000): Promise<T> {
  const until = Date.now() + ms;
  let got = await fn();
  while (got !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    got = await fn();
  }
  return got;
}
