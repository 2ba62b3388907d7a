import type { Context, MiddlewareHandler } from 'hono'
import ipaddr from 'ipaddr.js'
import { clientAddress as peerAddress } from '../../lib/node-io.ts'
import type { AppEnv } from './env.ts'

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number]

/**
 * Where a request comes from, when the origin sits behind reverse proxies: if the TCP peer is one of the trusted
 * proxies, the client is the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy; otherwise the
 * peer. Entries a proxy did not write (left of the first untrusted one) are never believed.
 */
export class TrustedProxies {
  readonly #cidrs: Cidr[]

  constructor(cidrs: readonly string[]) {
    this.#cidrs = cidrs.map((c) => ipaddr.parseCIDR(c))
  }

  /** The client address for a peer address and the request's X-Forwarded-For value (all headers joined by commas). */
  resolve(peer: string, forwardedFor: string | null | undefined): string {
    const peerIp = parseIp(peer)
    if (!peerIp) return peer
    let client = peerIp
    if (this.#cidrs.length === 0 || !forwardedFor || !this.#trusted(peerIp)) return client.toString()
    const hops = forwardedFor
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseIp(hops[i]!)
      // an entry that is not an address: stop at the last hop a trusted proxy vouched for
      if (!hop) break
      client = hop
      if (!this.#trusted(hop)) break
    }
    return client.toString()
  }

  #trusted(ip: ipaddr.IPv4 | ipaddr.IPv6): boolean {
    return this.#cidrs.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits))
  }
}

/** An address as ipaddr parses it, IPv4-mapped IPv6 made plain IPv4; `[v6]:port` and `v4:port` forms accepted. */
function parseIp(raw: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let s = raw.trim()
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s)
  if (bracketed) s = bracketed[1]!
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'))
  // a zone id (fe80::1%eth0) names an interface of the proxy, not part of the address
  s = s.replace(/%.*$/, '')
  if (!ipaddr.isValid(s)) return undefined
  try {
    return ipaddr.process(s)
  } catch {
    return undefined
  }
}

/** Works out the request's client address once (see TrustedProxies) and keeps it for clientAddress(c). */
export function clientAddressMiddleware(proxies: TrustedProxies): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('clientAddress', proxies.resolve(peerAddress(c), c.req.header('x-forwarded-for')))
    await next()
  }
}

/** The client address of an origin request: what clientAddressMiddleware found, else the TCP peer. */
export function clientAddress(c: Context): string {
  return ((c as Context<AppEnv>).get('clientAddress') as string | undefined) ?? peerAddress(c)
}
