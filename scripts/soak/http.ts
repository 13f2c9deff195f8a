/** One request the harness made, as the checks see it afterwards (docs/soak.md). */
export interface Rec {
  op: string;
  /** 'proxy' or the index of the instance called directly */
  via: 'proxy' | number;
  t0: number;
  t1: number;
  /** 0: the connection failed (no HTTP answer) */
  status: number;
  /** the instance that answered (x-soak-backend), when known */
  backend?: number;
  /** the proxy lost the backend after sending the request: outcome unknown */
  proxyLost?: boolean;
  /** the start of the body of a 5xx or of a failed connection, for the report */
  detail?: string;
}

export const recs: Rec[] = [];

export interface Reply {
  status: number;
  // The harness reads a few known fields of Authplane's answers; `any` keeps that reading short.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One HTTP call, recorded in `recs`. Never throws: a failed connection is status 0. */
export async function call(o: {
  base: string; via: 'proxy' | number; op: string; method?: string; path: string; body?: unknown; token?: string; vu?: number;
  headers?: Record<string, string>; record?: boolean;
}): Promise<Reply> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.vu !== undefined) headers['x-soak-vu'] = String(o.vu);
  const t0 = Date.now();
  const rec: Rec = { op: o.op, via: o.via, t0, t1: t0, status: 0 };
  let json: unknown = null;
  try {
    const res = await fetch(`${o.base}${o.path}`, {
      method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
      headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    rec.status = res.status;
    const b = res.headers.get('x-soak-backend');
    if (b !== null) rec.backend = Number(b);
    if (res.headers.get('x-soak-proxy') === 'backend-lost') rec.proxyLost = true;
    if (res.status >= 500) rec.detail = text.slice(0, 200);
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    rec.detail = e.cause?.code ?? e.message;
  }
  rec.t1 = Date.now();
  if (typeof o.via === 'number' && rec.backend === undefined) rec.backend = o.via;
  if (o.record !== false) recs.push(rec);
  return { status: rec.status, json };
}
