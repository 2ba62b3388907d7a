import { badRequest } from '../../lib/api-error.ts'
import type { AssignmentKind, AssignmentsStore } from '../storage/assignments-store.ts'
import type { NetworksStore } from '../storage/networks-store.ts'
import type { SiteRecord } from '../storage/sites-store.ts'
import { matchLength, parseAddress, type Address } from './cidr.ts'
import { distanceKm, type GeoLocation, type GeoLocator } from './geo.ts'
import { ResolveRequest, type Resolution } from '../schemas.ts'
import type { SitesService } from './sites.ts'

export type { Resolution } from '../schemas.ts'
export type Rule = Resolution['rule']

export interface PlacementOptions {
  sites: SitesService
  assignments: AssignmentsStore
  networks: NetworksStore
  geo: GeoLocator
}

/**
 * Which site serves a client: the first matching rule of user, team, org, network, geo, default; else the origin.
 * Only `up` sites with a URL count; an assignment naming a site that is not up is passed over (and said so).
 */
export class PlacementService {
  readonly #o: PlacementOptions

  constructor(o: PlacementOptions) {
    this.#o = o
  }

  /** Checks a `POST /assignments/resolve` body (for callers that have not run the route's schema). */
  static parse(body: unknown): ResolveRequest {
    return PlacementService.checked(ResolveRequest.parse(body))
  }

  /** The request, once its address is known to be one (the schema checks only that it is a string). */
  static checked(req: ResolveRequest): ResolveRequest {
    if (req.address !== undefined && !parseAddress(req.address))
      throw badRequest(`address must be an IPv4 or IPv6 address (got "${req.address}")`)
    return req
  }

  async resolve(req: ResolveRequest): Promise<Resolution> {
    const all = this.#o.sites.list()
    const byId = new Map(all.map((s) => [s.id, s]))
    const up = all.filter((s) => s.healthState === 'up' && s.url !== null)
    const isUp = (id: string) => up.some((s) => s.id === id)
    const skipped: string[] = []
    const answer = (site: SiteRecord | null, rule: Rule, detail: string): Resolution => ({
      site: site && { id: site.id, name: site.name, url: site.url!, chain: this.#o.sites.chain(site) },
      rule,
      detail: skipped.length > 0 ? `${detail}; passed over: ${skipped.join(', ')}` : detail,
    })

    const explicit = (kind: AssignmentKind, subjects: string[]): SiteRecord | undefined => {
      for (const subject of [...new Set(subjects)].sort()) {
        const a = this.#o.assignments.get(kind, subject)
        if (!a) continue
        if (isUp(a.siteId)) return byId.get(a.siteId)
        const site = byId.get(a.siteId)
        skipped.push(`${kind} ${subject} → ${site?.name ?? a.siteId} (${site?.healthState ?? 'unknown'})`)
      }
      return undefined
    }
    if (req.user !== undefined) {
      const s = explicit('user', [req.user])
      if (s) return answer(s, 'user', `user ${req.user} is assigned to ${s.name}`)
    }
    const teams = [...req.teams].sort()
    for (const team of teams) {
      const s = explicit('team', [team])
      if (s) return answer(s, 'team', `team ${team} is assigned to ${s.name}`)
    }
    for (const org of [...req.orgs].sort()) {
      const s = explicit('org', [org])
      if (s) return answer(s, 'org', `organization ${org} is assigned to ${s.name}`)
    }

    const addr = req.address === undefined ? undefined : parseAddress(req.address)
    if (addr) {
      const byNetwork = nearestNetwork(addr, up)
      if (byNetwork)
        return answer(byNetwork.site, 'network', `${addr.toString()} is in ${byNetwork.cidr}, a network of ${byNetwork.site.name}`)
      const located = up.filter((s) => s.latitude !== null && s.longitude !== null)
      if (located.length > 0) {
        const where = await this.locate(addr)
        if (where) {
          let best: { site: SiteRecord; km: number } | undefined
          for (const site of located) {
            const km = distanceKm(where, { latitude: site.latitude!, longitude: site.longitude! })
            if (!best || km < best.km || (km === best.km && site.name < best.site.name)) best = { site, km }
          }
          if (best)
            return answer(best.site, 'geo', `nearest by location: ${Math.round(best.km)} km (${where.place})`)
        }
      }
    }

    const fallback = up.find((s) => s.isDefault)
    if (fallback) return answer(fallback, 'default', `${fallback.name} is the default site`)
    const unusedDefault = all.find((s) => s.isDefault)
    if (unusedDefault) skipped.push(`default ${unusedDefault.name} (${unusedDefault.healthState})`)
    return answer(null, 'origin', up.length === 0 ? 'no site is up: the origin serves it' : 'no rule matched: the origin serves it')
  }

  /** The address's location: the most specific admin network containing it, else the offline IP database. */
  async locate(addr: Address): Promise<GeoLocation | undefined> {
    let best: { len: number; loc: GeoLocation } | undefined
    for (const n of this.#o.networks.list()) {
      const len = matchLength(addr, n.cidr)
      if (len !== undefined && (!best || len > best.len))
        best = { len, loc: { latitude: n.latitude, longitude: n.longitude, place: n.label ?? n.cidr } }
    }
    if (best) return best.loc
    return this.#o.geo.locate(addr)
  }
}

/** The up site with the longest network prefix containing the address (ties: by name). */
function nearestNetwork(addr: Address, up: SiteRecord[]): { site: SiteRecord; cidr: string } | undefined {
  let best: { site: SiteRecord; cidr: string; len: number } | undefined
  for (const site of up) {
    for (const cidr of site.networks) {
      const len = matchLength(addr, cidr)
      if (len === undefined) continue
      if (!best || len > best.len || (len === best.len && site.name < best.site.name)) best = { site, cidr, len }
    }
  }
  return best
}
