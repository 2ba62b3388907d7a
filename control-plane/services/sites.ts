import { ApiError, badRequest, notFound } from '../../lib/api-error.ts'
import type { SiteCreate, SitePatch, SiteView } from '../schemas.ts'
import type { SiteFields, SiteRecord, SitesStore } from '../storage/sites-store.ts'
import { iso } from './input.ts'
import { newId, SITE_ID_RE } from './secrets.ts'

export interface SitesOptions {
  store: SitesStore
  now: () => number
  /** Brings every site's health up to date (a sweep), so reads never depend on when the timer last ran. */
  evaluateHealth: () => void
}

/** Sites: validation, the parent chain, and the one default. */
export class SitesService {
  readonly #o: SitesOptions

  constructor(o: SitesOptions) {
    this.#o = o
  }

  list(): SiteRecord[] {
    this.#o.evaluateHealth()
    return this.#o.store.list()
  }

  /** A site by id or name, with up-to-date health; 404 when there is none. */
  get(ref: string): SiteRecord {
    this.#o.evaluateHealth()
    const site = this.find(ref)
    if (!site) throw notFound(`no site has the id or name "${ref}"`)
    return site
  }

  find(ref: string): SiteRecord | undefined {
    return SITE_ID_RE.test(ref) ? this.#o.store.get(ref) : this.#o.store.byName(ref)
  }

  create(input: SiteCreate): SiteRecord {
    const id = newId('s')
    const fields = this.applyFields(EMPTY_FIELDS, input, id)
    this.#o.store.insert(id, fields, this.#o.now())
    return this.#o.store.get(id)!
  }

  update(ref: string, input: SitePatch): SiteRecord {
    const site = this.get(ref)
    const fields = this.applyFields(site, input, site.id)
    this.#o.store.update(site.id, fields, this.#o.now())
    return this.#o.store.get(site.id)!
  }

  remove(ref: string): void {
    const site = this.get(ref)
    this.#o.store.delete(site.id)
  }

  /**
   * `current` with the fields of `input` (their types checked by the schema) applied. A name that is taken is 409
   * `SITE_EXISTS`; latitude without longitude, and a parent that is unknown, the site itself, or would make a loop
   * are 400.
   */
  applyFields(current: SiteFields, input: SitePatch, siteId: string): SiteFields {
    const f: SiteFields = { ...current, networks: [...current.networks] }
    if (input.name !== undefined) {
      const other = this.#o.store.byName(input.name)
      if (other && other.id !== siteId) throw new ApiError('SITE_EXISTS', `a site named "${input.name}" exists already`)
      f.name = input.name
    }
    if (input.url !== undefined) f.url = input.url
    if (input.region !== undefined) f.region = input.region
    if (input.latitude !== undefined) f.latitude = input.latitude
    if (input.longitude !== undefined) f.longitude = input.longitude
    if ((f.latitude === null) !== (f.longitude === null))
      throw badRequest('latitude and longitude go together: set both, or neither')
    if (input.networks !== undefined) f.networks = [...new Set(input.networks ?? [])]
    if (input.capacityBytes !== undefined) f.capacityBytes = input.capacityBytes
    if (input.isDefault !== undefined) f.isDefault = input.isDefault
    if (input.caCertificate !== undefined) f.caCertificate = input.caCertificate
    if (input.parent !== undefined) f.parentId = input.parent === null || input.parent === '' ? null : this.#parentId(input.parent, siteId)
    return f
  }

  #parentId(ref: string, siteId: string): string {
    const parent = this.find(ref)
    if (!parent) throw badRequest(`parent "${ref}" is not a site`)
    if (parent.id === siteId) throw badRequest('a site cannot be its own parent')
    const seen = new Set<string>([siteId])
    for (let p: SiteRecord | undefined = parent; p; p = p.parentId ? this.#o.store.get(p.parentId) : undefined) {
      if (seen.has(p.id))
        throw badRequest(`parent "${ref}" would make a loop: ${parent.name} is downstream of this site already`)
      seen.add(p.id)
    }
    return parent.id
  }

  /** The site's id, then its parents' ids up to the origin (a loop, which PATCH refuses, is cut). */
  chain(site: SiteRecord): string[] {
    const ids = [site.id]
    for (let p = site.parentId; p && !ids.includes(p); ) {
      ids.push(p)
      p = this.#o.store.get(p)?.parentId ?? null
    }
    return ids
  }

  view(s: SiteRecord): SiteView {
    const parent = s.parentId ? (this.#o.store.get(s.parentId)?.name ?? null) : null
    return {
      id: s.id,
      name: s.name,
      url: s.url,
      region: s.region,
      latitude: s.latitude,
      longitude: s.longitude,
      networks: s.networks,
      parent,
      capacityBytes: s.capacityBytes,
      isDefault: s.isDefault,
      caCertificate: s.caCertificate,
      createdAt: iso(s.createdAt)!,
      updatedAt: iso(s.updatedAt)!,
      health: { state: s.healthState, since: iso(s.healthSince), lastHeartbeatAt: iso(s.lastHeartbeatAt) },
      stats: s.stats,
    }
  }
}

export const EMPTY_FIELDS: SiteFields = {
  name: '',
  url: null,
  region: null,
  latitude: null,
  longitude: null,
  networks: [],
  parentId: null,
  capacityBytes: null,
  isDefault: false,
  caCertificate: null,
}
