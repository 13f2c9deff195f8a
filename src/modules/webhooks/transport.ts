import http from 'node:http';
import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { lookup } from 'node:dns/promises';
import type { Duplex } from 'node:stream';
import { toWellFormed } from '../../lib/well-formed.js';
import { classifyAddress } from './address.js';

export interface ResolvedAddress { address: string; family: 4 | 6 }
/** Turns a host name into addresses (injected in tests, so no test ever asks a real DNS server). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;
/** Opens the connection to an address that has passed the SSRF check (injected in tests to fence them to loopback). */
export type Connector = (o: { address: string; family: 4 | 6; port: number; tls: boolean; servername: string | undefined }) => Duplex;

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

export const systemConnector: Connector = (o) => (o.tls
  // servername: SNI and the certificate's name check use the URL's host, while the socket goes to the checked address.
  ? tls.connect({ host: o.address, port: o.port, servername: o.servername, ALPNProtocols: ['http/1.1'] })
  : net.connect({ host: o.address, port: o.port }));

/** The receiver's answer is kept up to this many bytes. */
export const RESPONSE_BODY_MAX = 1024;

export interface PostOutcome {
  ok: boolean;
  status: number | null;
  /** at most RESPONSE_BODY_MAX bytes of the answer, made storable (no NUL, well-formed) */
  body: string | null;
  /** why it failed, a short sentence with no secret in it; null on success */
  error: string | null;
}

export interface PostOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
  resolve: Resolver;
  connect: Connector;
}

const fail = (error: string, status: number | null = null, body: string | null = null): PostOutcome => ({ ok: false, status, body, error });
const storable = (b: Buffer) => toWellFormed(b.toString('utf8').replace(/\u0000/g, ''));

/**
 * POSTs one webhook. The host is resolved here, at delivery time, every address it resolves to is checked
 * (an attacker's DNS answering one public and one private address is refused, not raced), and the
 * connection is opened to the checked address itself — never by name again — so a DNS answer that changes
 * between the check and the connect (rebinding) cannot redirect it. Redirects are not followed (a 3xx is
 * a failure); the whole exchange is bounded by `timeoutMs`; at most 1 KiB of the answer is read.
 */
export async function postWebhook(o: PostOptions): Promise<PostOutcome> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return fail('the URL is invalid');
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') return fail('the URL must be http(s)');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await withTimeout(o.resolve(host), o.timeoutMs);
    } catch {
      return fail('the host name could not be resolved');
    }
  }
  if (addresses.length === 0) return fail('the host name could not be resolved');
  for (const a of addresses) {
    const verdict = classifyAddress(a.address, { allowPrivate: o.allowPrivate });
    if (verdict !== 'ok') return fail(`refused: ${a.address} is a ${verdict === 'refused_private' ? 'loopback or private' : 'link-local, metadata or reserved'} address`);
  }
  const target = addresses[0]!;
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const done = (r: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = http.request({
      method: 'POST',
      path: `${url.pathname}${url.search}`,
      headers: { ...o.headers, host: url.host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(o.body)), 'user-agent': 'Authplane-Webhooks/1' },
      createConnection: () => o.connect({ address: target.address, family: target.family, port, tls: secure, servername: isIP(host) ? undefined : host }),
    });
    const timer = setTimeout(() => done(fail(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done(fail(`connection failed (${err.code ?? 'error'})`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        const body = storable(Buffer.concat(chunks).subarray(0, RESPONSE_BODY_MAX));
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) done({ ok: true, status, body, error: null });
        else if (status >= 300 && status < 400) done(fail('redirects are not followed', status, body));
        else done(fail(`the receiver answered ${status}`, status, body));
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size >= RESPONSE_BODY_MAX) finish();
      });
      res.on('end', finish);
      res.on('error', finish);
    });
    req.end(o.body);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}
