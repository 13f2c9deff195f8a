import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may not go (SSRF). Two lists: `always` is refused whatever the configuration (link-local,
 * which holds the cloud metadata services at 169.254.169.254 / fd00:ec2::254 via ULA below, "this network",
 * multicast, reserved); `private` (loopback, RFC 1918, CGNAT, ULA, NAT64 and 6to4 wrappers that can carry
 * a private IPv4) is refused unless WEBHOOK_ALLOW_PRIVATE=true.
 */
const always = new BlockList();
always.addSubnet('0.0.0.0', 8, 'ipv4');
always.addSubnet('169.254.0.0', 16, 'ipv4');
always.addSubnet('192.0.0.0', 24, 'ipv4');
always.addSubnet('198.18.0.0', 15, 'ipv4');
always.addSubnet('224.0.0.0', 4, 'ipv4');
always.addSubnet('240.0.0.0', 4, 'ipv4');
always.addAddress('::', 'ipv6');
always.addSubnet('fe80::', 10, 'ipv6');
always.addSubnet('ff00::', 8, 'ipv6');
// AWS's IPv6 metadata endpoint sits in ULA space; refused even when private targets are allowed.
always.addAddress('fd00:ec2::254', 'ipv6');

const privateNets = new BlockList();
privateNets.addSubnet('127.0.0.0', 8, 'ipv4');
privateNets.addSubnet('10.0.0.0', 8, 'ipv4');
privateNets.addSubnet('172.16.0.0', 12, 'ipv4');
privateNets.addSubnet('192.168.0.0', 16, 'ipv4');
// CGNAT; also holds Alibaba Cloud's metadata service (100.100.100.200).
privateNets.addSubnet('100.64.0.0', 10, 'ipv4');
privateNets.addAddress('::1', 'ipv6');
privateNets.addSubnet('fc00::', 7, 'ipv6');
privateNets.addSubnet('64:ff9b::', 96, 'ipv6');
privateNets.addSubnet('2002::', 16, 'ipv6');

export type AddressVerdict = 'ok' | 'refused_private' | 'refused_reserved' | 'invalid';

/** The embedded IPv4 of an IPv4-mapped IPv6 address (::ffff:a.b.c.d or ::ffff:xxxx:xxxx), else null. */
function mappedV4(address: string): string | null {
  const m = /^::ffff:(.+)$/i.exec(address);
  if (!m) return null;
  const tail = m[1]!;
  if (isIP(tail) === 4) return tail;
  const h = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tail);
  if (!h) return null;
  const hi = parseInt(h[1]!, 16);
  const lo = parseInt(h[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Whether a webhook may connect to this IP address. */
export function classifyAddress(address: string, o: { allowPrivate: boolean }): AddressVerdict {
  const v4 = mappedV4(address);
  if (v4) return classifyAddress(v4, o);
  const family = isIP(address);
  if (family === 0) return 'invalid';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (always.check(address, type)) return 'refused_reserved';
  if (!o.allowPrivate && privateNets.check(address, type)) return 'refused_private';
  return 'ok';
}
