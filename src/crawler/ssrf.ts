// SSRF guard. The crawler fetches URLs that users (and the sites they point at, through redirects) choose, so
// a hostile page could aim it at 169.254.169.254 or an internal admin panel. Checking the URL's hostname up
// front is not enough: DNS can answer differently the second time (rebinding). So the decision is made inside
// the connector, on the addresses the socket is about to connect to, and again on the socket's remote
// address once connected (ssrf-connector.ts). Every redirect hop connects through the same connector.
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { PermanentCrawlError } from './errors.ts';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Hostname → addresses. Injectable so tests can simulate DNS (including rebinding) without a real resolver. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  dns.promises.lookup(hostname, { all: true, verbatim: true });

type Address = ipaddr.IPv4 | ipaddr.IPv6;

// Outside 2000::/3 nothing is assigned for ordinary global unicast, so anything ipaddr.js calls plain
// "unicast" there (e.g. IPv4-compatible ::a.b.c.d) is refused too.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function embeddedV4(addr: ipaddr.IPv6, offset: number, label: string): string | undefined {
  const v4 = new ipaddr.IPv4(addr.toByteArray().slice(offset, offset + 4));
  const inner = v4Range(v4);
  return inner === undefined ? undefined : `${label} ${inner} (${v4.toString()})`;
}

function v4Range(addr: ipaddr.IPv4): string | undefined {
  const range: string = addr.range();
  return range === 'unicast' ? undefined : range;
}

function v6Range(addr: ipaddr.IPv6): string | undefined {
  const range: string = addr.range();
  switch (range) {
    // These carry an IPv4 address that the host or a translator will actually reach; judge that one.
    case 'ipv4Mapped':
    case 'rfc6145':
      return embeddedV4(addr, 12, range);
    case 'rfc6052':
      return addr.match(NAT64_WELL_KNOWN) ? embeddedV4(addr, 12, 'nat64') : 'nat64 local-use';
    case '6to4':
      return embeddedV4(addr, 2, '6to4');
    case 'unicast':
      return addr.match(GLOBAL_UNICAST_V6) ? undefined : 'reserved';
    default:
      return range;
  }
}

// ipaddr.js reads any "::a.b.c.d" as the mapped ::ffff:a.b.c.d; spelling the tail in hex keeps e.g. the
// IPv4-compatible ::8.8.8.8 from passing as the public 8.8.8.8.
function hexTail(ip: string): string {
  const match = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(%.*)?$/.exec(ip);
  if (!match || !ip.includes(':')) return ip;
  const [a, b, c, d] = match.slice(2, 6).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((n) => n > 255)) return ip;
  const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `${match[1]}${hex(a, b)}:${hex(c, d)}${match[6] ?? ''}`;
}

function parseAddress(ip: string): Address | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  try {
    return ipaddr.parse(hexTail(bare));
  } catch {
    return undefined;
  }
}

/** The special-purpose range an address falls in ('loopback', 'private', ...), or undefined if public. */
export function blockedRange(ip: string): string | undefined {
  const addr = parseAddress(ip);
  // Fail closed: something that is not an address is never a safe place to connect to.
  if (!addr) return 'unparseable';
  return addr.kind() === 'ipv4' ? v4Range(addr as ipaddr.IPv4) : v6Range(addr as ipaddr.IPv6);
}

export function isBlockedAddress(ip: string): boolean {
  return blockedRange(ip) !== undefined;
}

export interface SsrfPolicyOptions {
  allowPrivateNetworks?: boolean;
  /** Addresses or CIDR ranges exempt from the block (e.g. one staging host) without opening every private range. */
  allowAddresses?: readonly string[];
}

export class SsrfPolicy {
  readonly allowPrivateNetworks: boolean;
  private readonly exempt: Array<[Address, number]>;

  constructor(options: SsrfPolicyOptions = {}) {
    this.allowPrivateNetworks = options.allowPrivateNetworks === true;
    this.exempt = (options.allowAddresses ?? []).map((entry) => {
      if (ipaddr.isValidCIDR(entry)) return ipaddr.parseCIDR(entry);
      const addr = parseAddress(entry);
      if (!addr) throw new TypeError(`allowAddresses: "${entry}" is not an IP address or CIDR range`);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    });
  }

  /** A stable description of the policy, so pooled connections are only shared between identical policies. */
  get key(): string {
    return `${this.allowPrivateNetworks ? 'open' : 'guarded'}|${this.exempt.map(([a, b]) => `${a}/${b}`).join(',')}`;
  }

  allows(ip: string): boolean {
    if (this.allowPrivateNetworks) return true;
    if (!isBlockedAddress(ip)) return true;
    const parsed = parseAddress(ip);
    // An IPv4 exemption also covers the same address in its ::ffff:a.b.c.d form.
    const addr =
      parsed?.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
        ? (parsed as ipaddr.IPv6).toIPv4Address()
        : parsed;
    return (
      addr !== undefined &&
      this.exempt.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits))
    );
  }

  assertAllowed(hostname: string, ip: string): void {
    if (this.allows(ip)) return;
    throw ssrfBlockedError(hostname, ip);
  }
}

export function ssrfBlockedError(hostname: string, ip: string): PermanentCrawlError {
  const target = hostname === ip ? ip : `${hostname} (${ip})`;
  return new PermanentCrawlError(
    'ssrf_blocked',
    `Refusing to connect to ${target}: ${blockedRange(ip) ?? 'non-public'} address. ` +
      'Private, loopback, link-local and reserved addresses are blocked; set allowPrivateNetworks: true ' +
      '(or list the address in allowAddresses) to crawl internal hosts.',
  );
}

/** The URL hostname without IPv6 brackets, as the socket layer wants it. */
export function socketHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * Resolve a hostname and keep only addresses the policy allows. Throws ssrf_blocked when every address is
 * refused. Also usable ahead of time (e.g. when a job is submitted) for an early, friendly error — but that
 * early answer is never trusted for the connection itself.
 */
export async function resolveAllowed(
  hostname: string,
  policy: SsrfPolicy,
  resolver: Resolver = systemResolver,
): Promise<ResolvedAddress[]> {
  const host = socketHost(hostname);
  const family = net.isIP(host);
  if (family !== 0) {
    policy.assertAllowed(host, host);
    return [{ address: host, family }];
  }
  const addresses = await resolver(host);
  if (addresses.length === 0) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host });
  }
  const allowed = addresses.filter((a) => policy.allows(a.address));
  if (allowed.length === 0) throw ssrfBlockedError(host, addresses[0]!.address);
  return allowed;
}

/** A `lookup` for net/tls.connect that resolves through the policy, so the socket only dials allowed addresses. */
export function guardedLookup(
  policy: SsrfPolicy,
  resolver: Resolver,
  onDone: () => void,
): net.LookupFunction {
  return (hostname, options, callback) => {
    resolveAllowed(hostname, policy, resolver).then(
      (addresses) => {
        onDone();
        const wanted = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
        const first = wanted[0];
        if (!first) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          callback(err, '', 0);
        } else if (options.all) callback(null, wanted);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => {
        onDone();
        callback(err, '', 0);
      },
    );
  };
}
