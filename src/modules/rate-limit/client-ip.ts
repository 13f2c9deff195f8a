import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { TrustProxy } from '../../config.js';

/**
 * The limiter's key for a client address (RL-04): one spelling per address, and one key per IPv6 /64.
 *
 * `req.ip` is already the derived client address (the socket peer, or the rightmost untrusted
 * X-Forwarded-For hop when TRUST_PROXY names the proxies). Here it is canonicalised so textual
 * variants cannot open fresh buckets: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) becomes
 * `1.2.3.4`; any other IPv6 address is cut to its /64 (one subscriber usually holds a whole /64 and
 * could rotate through it) and written `w0:w1:w2:w3::/64` in lower-case hex without leading zeros.
 * A zone index (`fe80::1%eth0`) is dropped. Anything unparseable is returned as is (lower-cased).
 */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  let s = ip.trim();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIPv4(s)) return s;
  if (!isIPv6(s)) return s.toLowerCase().slice(0, 64);
  const words = ipv6Words(s);
  if (!words) return s.toLowerCase().slice(0, 64);
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  if (mapped) return `${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
  return `${words.slice(0, 4).map((w) => w.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit words of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function ipv6Words(s: string): number[] | null {
  let text = s.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    if (!isIPv4(last)) return null;
    const b = last.split('.').map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = `${text.slice(0, lastColon + 1)}0`;
    // The placeholder "0" stands for the two tail words; it is replaced below.
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  let words: number[];
  if (halves.length === 2) {
    const missing = 8 - (head.length + rest.length + (tail.length ? 1 : 0));
    if (missing < 0) return null;
    words = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    words = head;
  }
  if (tail.length) words = [...words.slice(0, -1), ...tail];
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return null;
  return words;
}

/** Loopback, private, CGNAT, unique-local and link-local ranges: where a proxy in front of the app sits. */
const PRIVATE = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16]] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

/** True for an address a reverse proxy of ours could have (IPv4-mapped IPv6 included). */
export function isPrivateAddress(addr: string): boolean {
  const key = clientKey(addr);
  if (isIPv4(key)) return PRIVATE.check(key, 'ipv4');
  const plain = addr.split('%')[0]!;
  return isIPv6(plain) && PRIVATE.check(plain, 'ipv6');
}

/**
 * Fastify's `trustProxy` for TRUST_PROXY (RL-04). Named proxies (IPs/CIDRs) are passed through. A hop
 * count N trusts the socket peer and the N − 1 addresses before it in X-Forwarded-For, but only when
 * the peer is a private or loopback address: Fastify ≥ 5.8 refuses bare hop counts because a client
 * that reaches the app directly could then pick its own address (and get another one banned), and a
 * public peer is exactly such a client. Behind a proxy on a public address, name it.
 */
export function trustProxyOption(tp: TrustProxy): false | string[] | ((addr: string, hop: number) => boolean) {
  if (tp === false || tp === 0) return false;
  if (typeof tp === 'number') {
    let peerTrusted = false;
    return (addr, hop) => {
      // proxy-addr asks hop 0 (the socket peer) first, then walks X-Forwarded-For right to left.
      if (hop === 0) peerTrusted = isPrivateAddress(addr);
      return peerTrusted && hop < tp;
    };
  }
  return tp;
}
