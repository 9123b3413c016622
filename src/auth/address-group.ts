// The unit a per-address limit counts: one IPv4 address, or one IPv6 /64. A single IPv6 subscriber is
// usually handed a whole /64 (often more), so counting each of its 2^64 addresses separately would give one
// client unlimited attempts. IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack socket reports) counts as
// the IPv4 address it carries.
import ipaddr from 'ipaddr.js';

export function addressGroup(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const prefix = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${prefix.join(':')}::/64`;
}
