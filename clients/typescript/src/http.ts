import type { paths } from './generated/openapi.js';
import { AuthplaneError, errorFromResponse } from './errors.js';

/** A small typed fetch over the generated `paths`: method + path in, the documented success body out. */

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** The paths that have an operation for method M. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M & keyof paths[P]]>] extends [never] ? never : P;
}[keyof paths];
/** The operation behind method M on path P. */
export type Op<M extends Method, P extends keyof paths> = NonNullable<paths[P][M & keyof paths[P]]>;

type Json<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;
/** The JSON body of the success statuses (2xx) of an operation; `undefined` for 204. */
export type Success<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 202 | 204 ? Json<R[S]> : never }[keyof R]
  : never;
/** The JSON request body of an operation. */
export type Body<O> = O extends { requestBody?: infer RB } ? Json<NonNullable<RB>> : never;
type Params<O, K extends string> = O extends { parameters: infer P } ? (P extends Record<K, infer X> ? NonNullable<X> : never) : never;

export interface CallOptions<O> {
  /** path parameters, e.g. `{ org_id }` */
  params?: Params<O, 'path'>;
  query?: Params<O, 'query'>;
  body?: Body<O>;
  headers?: Record<string, string>;
}

export interface Transport {
  baseUrl: string;
  fetch: typeof fetch;
}

/** Fills `{name}` segments of a path (encoded) and appends the query. */
export function buildUrl(baseUrl: string, path: string, params?: object, query?: object): string {
  const p = path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = (params as Record<string, unknown> | undefined)?.[name];
    if (v === undefined || v === null || v === '') throw new TypeError(`missing path parameter ${name} for ${path}`);
    // '.' and '..' survive encoding and would be resolved by URL, reaching another route.
    if (v === '.' || v === '..') throw new TypeError(`path parameter ${name} may not be "${v}"`);
    return encodeURIComponent(String(v));
  });
  const url = new URL(p.replace(/^\//, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  return url.toString();
}

/** Sends one request and returns the parsed success body; throws AuthplaneError for any other status. */
export async function send<M extends Method, P extends PathsWith<M>>(t: Transport, method: M, path: P, o: CallOptions<Op<M, P>> = {}): Promise<Success<Op<M, P>>> {
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
  let body: string | undefined;
  if (o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  const url = buildUrl(t.baseUrl, path as string, o.params, o.query); // a bad parameter is the caller's TypeError
  let res: Response;
  try {
    // Bearer tokens only: the login cookies the server also sets are never sent back, so a cookie can
    // neither ride along as a second credential nor make a cross-site request count as signed in.
    res = await t.fetch(url, { method: method.toUpperCase(), headers, body, credentials: 'omit' });
  } catch (cause) {
    throw new AuthplaneError(0, { error: 'unavailable', message: 'Authplane could not be reached' }, { cause });
  }
  const text = await res.text();
  let data: unknown;
  if (text) {
    try { data = JSON.parse(text); } catch { data = undefined; }
  }
  if (res.status >= 200 && res.status < 300) {
    if (text && data === undefined) throw new AuthplaneError(res.status, { error: 'unavailable', message: 'Authplane answered with a body that is not JSON' });
    return data as Success<Op<M, P>>;
  }
  throw errorFromResponse(res.status, data);
}
