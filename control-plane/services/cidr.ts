import ipaddr from 'ipaddr.js'
import { badRequest } from '../../lib/api-error.ts'

export type Address = ipaddr.IPv4 | ipaddr.IPv6

/** A client address: IPv4, IPv6, or IPv4-mapped IPv6 (`::ffff:1.2.3.4`, read as the IPv4 it carries). */
export function parseAddress(v: string): Address | undefined {
  if (!strictlyValid(v)) return undefined
  return ipaddr.process(v)
}

export interface Cidr {
  text: string
  range: [Address, number]
}

/** A CIDR in canonical form: the network address (host bits cleared) and the prefix length. */
export function parseCidr(v: string): Cidr | undefined {
  if (!strictlyValid(v.slice(0, Math.max(0, v.indexOf('/'))))) return undefined
  try {
    const [addr, len] = ipaddr.parseCIDR(v)
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && len >= 96) {
      const v4 = (addr as ipaddr.IPv6).toIPv4Address()
      return canonical(v4, len - 96)
    }
    return canonical(addr, len)
  } catch {
    return undefined
  }
}

function canonical(addr: Address, len: number): Cidr {
  const network =
    addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${len}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${len}`)
  return { text: `${network.toString()}/${len}`, range: [network, len] }
}

export function cidrOrThrow(v: unknown, key: string): Cidr {
  const c = typeof v === 'string' ? parseCidr(v) : undefined
  if (!c) throw badRequest(`${key} must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32 (got ${JSON.stringify(v)})`)
  return c
}

/** The prefix length when `addr` is in the CIDR, else undefined. */
export function matchLength(addr: Address, cidr: string): number | undefined {
  const c = parseCidr(cidr)
  if (!c || c.range[0].kind() !== addr.kind()) return undefined
  return addr.match(c.range as [typeof addr, number]) ? c.range[1] : undefined
}

/** Dotted quads or IPv6 text only: not the legacy forms (`1.2.3`, `0x7f.1`, `10`) ipaddr.js also accepts. */
function strictlyValid(v: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(v) || (v.includes(':') && ipaddr.IPv6.isValid(v))
}
