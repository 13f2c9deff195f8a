import { describe, expect, it } from 'vitest';
import { clientKey, isPrivateAddress, trustProxyOption } from './client-ip.js';

describe('clientKey: one limiter key per client address (RL-04)', () => {
  it('keeps IPv4 addresses as they are', () => {
    expect(clientKey('1.2.3.4')).toBe('1.2.3.4');
    expect(clientKey(' 10.0.0.1 ')).toBe('10.0.0.1');
  });

  it('maps IPv4-mapped IPv6 to the IPv4 address, in every spelling', () => {
    for (const s of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '0:0:0:0:0:ffff:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:0102:0304']) {
      expect(clientKey(s), s).toBe('1.2.3.4');
    }
  });

  it('groups IPv6 by /64 with one canonical spelling', () => {
    const key = '2001:db8:0:0::/64';
    for (const s of ['2001:db8::1', '2001:DB8:0::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::ffff:1', '2001:db8:0:0:1::9', '2001:db8::1%eth0', '2001:db8::1.2.3.4']) {
      expect(clientKey(s), s).toBe(key);
    }
    expect(clientKey('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });

  it('never throws on odd input', () => {
    expect(clientKey(undefined)).toBe('unknown');
    expect(clientKey('')).toBe('unknown');
    expect(clientKey('not-an-ip')).toBe('not-an-ip');
    expect(clientKey('1:2:3:4:5:6:7:8:9')).toBe('1:2:3:4:5:6:7:8:9');
  });
});

describe('trustProxyOption', () => {
  it('passes named proxies through and turns false / 0 into no trust', () => {
    expect(trustProxyOption(false)).toBe(false);
    expect(trustProxyOption(0)).toBe(false);
    expect(trustProxyOption(['10.0.0.0/8'])).toEqual(['10.0.0.0/8']);
  });

  it('a hop count trusts N hops only behind a private or loopback peer', () => {
    const trust = trustProxyOption(2) as (addr: string, hop: number) => boolean;
    expect([trust('10.0.0.5', 0), trust('34.1.1.1', 1), trust('6.6.6.6', 2)]).toEqual([true, true, false]);
    expect(trust('8.8.8.8', 0)).toBe(false);
    expect(trust('::ffff:127.0.0.1', 0)).toBe(true);
    expect(trust('fd00::1', 0)).toBe(true);
  });

  it('knows the private ranges', () => {
    for (const a of ['10.1.1.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '127.0.0.1', '::1', 'fc00::1', 'fe80::1%eth0', '::ffff:10.0.0.1']) expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['172.32.0.1', '8.8.8.8', '2001:db8::1', '198.51.100.1']) expect(isPrivateAddress(a), a).toBe(false);
  });
});
