import { ApiError, badRequest, notFound } from '../../lib/api-error.ts'
import type { JoinTokenRecord, JoinTokensStore } from '../storage/join-tokens-store.ts'
import type { SiteFields, SiteRecord, SitesStore } from '../storage/sites-store.ts'
import type { JoinRequest, JoinTokenOptions, JoinTokenView, SitePatch } from '../schemas.ts'
import { iso } from './input.ts'
import {
  joinToken,
  newId,
  newSecret,
  parseJoinToken,
  secretMatches,
  sha256,
  siteCredential,
} from './secrets.ts'
import { EMPTY_FIELDS, type SitesService } from './sites.ts'

export interface JoinOptions {
  tokens: JoinTokensStore
  sites: SitesService
  siteStore: SitesStore
  now: () => number
}

/** The site fields a joining node may set. */
const JOIN_FIELDS = ['name', 'url', 'region', 'latitude', 'longitude', 'networks', 'parent', 'capacityBytes'] as const

/** Join tokens, and joining: turning a join token into a site identity and a fresh site credential. */
export class JoinService {
  readonly #o: JoinOptions

  constructor(o: JoinOptions) {
    this.#o = o
  }

  create(input: JoinTokenOptions): { view: JoinTokenView; token: string } {
    const site = input.site === undefined || input.site === null ? undefined : this.#o.sites.get(input.site)
    const ttl = input.expiresIn
    const uses = input.uses
    const now = this.#o.now()
    const secret = newSecret()
    const record: JoinTokenRecord = {
      id: newId('j'),
      secretHash: sha256(secret),
      siteId: site?.id ?? null,
      expiresAt: now + ttl * 1000,
      usesLeft: uses,
      createdAt: now,
    }
    this.#o.tokens.insert(record)
    return { view: this.view(record), token: joinToken(record.id, secret) }
  }

  list(): JoinTokenView[] {
    return this.#o.tokens.list().map((t) => this.view(t))
  }

  revoke(id: string): void {
    if (!this.#o.tokens.delete(id)) throw notFound(`no join token has the id "${id}"`)
  }

  /**
   * Joins with `token`: a token for a site gives its identity (filling only fields the admin left empty); a token
   * without one creates a site from the request. Either way one use is taken and a new site credential replaces any
   * old one, all in one transaction (a refused join takes no use).
   */
  join(token: string, input: JoinRequest): { site: SiteRecord; credential: string } {
    const parsed = parseJoinToken(token)
    const record = parsed && this.#o.tokens.get(parsed.tokenId)
    if (!parsed || !record || !secretMatches(parsed.secret, record.secretHash))
      throw new ApiError('UNAUTHORIZED', 'the join token is not valid (unknown or revoked)')
    const now = this.#o.now()
    if (record.expiresAt <= now) throw new ApiError('UNAUTHORIZED', `the join token expired at ${iso(record.expiresAt)}`)
    if (record.usesLeft <= 0) throw new ApiError('UNAUTHORIZED', 'the join token has no uses left')
    // fields a newer node may send and this control plane does not know are ignored, not refused
    const request: SitePatch = {}
    for (const k of JOIN_FIELDS) if (input[k] !== undefined) Object.assign(request, { [k]: input[k] })

    return this.#o.siteStore.transaction(() => {
      let siteId: string
      if (record.siteId) {
        const site = this.#o.siteStore.get(record.siteId)
        if (!site) throw new ApiError('UNAUTHORIZED', 'the join token names a site that no longer exists')
        siteId = site.id
        // the admin's settings win: only what the admin left empty comes from the node
        const fill: SitePatch = {}
        if (site.url === null && request.url !== undefined) fill.url = request.url
        if (site.region === null && request.region !== undefined) fill.region = request.region
        if (site.latitude === null && request.latitude !== undefined && request.longitude !== undefined) {
          fill.latitude = request.latitude
          fill.longitude = request.longitude
        }
        if (site.networks.length === 0 && request.networks !== undefined) fill.networks = request.networks
        if (site.parentId === null && request.parent !== undefined) fill.parent = request.parent
        if (site.capacityBytes === null && request.capacityBytes !== undefined) fill.capacityBytes = request.capacityBytes
        const fields = this.#o.sites.applyFields(site, fill, site.id)
        if (fields.url === null) throw badRequest('url is required: the site has none yet, so the node must say where clients reach it')
        this.#o.siteStore.update(site.id, fields, now)
      } else {
        if (request.name === undefined) throw badRequest('name is required: this join token creates a new site')
        if (request.url === undefined) throw badRequest('url is required: where clients reach this cache node')
        siteId = newId('s')
        const fields: SiteFields = this.#o.sites.applyFields(EMPTY_FIELDS, request, siteId)
        this.#o.siteStore.insert(siteId, fields, now)
      }
      if (!this.#o.tokens.use(record.id, now)) throw new ApiError('UNAUTHORIZED', 'the join token has no uses left')
      const secret = newSecret()
      this.#o.siteStore.setCredential(siteId, sha256(secret), now)
      return { site: this.#o.siteStore.get(siteId)!, credential: siteCredential(siteId, secret) }
    })
  }

  view(t: JoinTokenRecord): JoinTokenView {
    const site = t.siteId ? this.#o.siteStore.get(t.siteId) : undefined
    return {
      id: t.id,
      site: site?.name ?? null,
      expiresAt: iso(t.expiresAt)!,
      usesLeft: t.usesLeft,
      createdAt: iso(t.createdAt)!,
    }
  }
}
