import { ApiError, badRequest, notFound } from '../errors.ts'
import type { SiteFields, SiteRecord, SitesStore, SiteStats, HealthState } from '../storage/sites-store.ts'
import { cidrOrThrow } from './cidr.ts'
import { bool, int, iso, num, object, onlyKeys, rootUrl, str, strings } from './input.ts'
import { newId, SITE_ID_RE } from './secrets.ts'

export const SITE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/

/** A site as the API shows it. */
export interface SiteView {
  id: string
  name: string
  url: string | null
  region: string | null
  latitude: number | null
  longitude: number | null
  networks: string[]
  parent: string | null
  capacityBytes: number | null
  isDefault: boolean
  caCertificate: string | null
  createdAt: string
  updatedAt: string
  health: { state: HealthState; since: string | null; lastHeartbeatAt: string | null }
  stats: SiteStats | null
}

/** The fields of `POST /sites` and `PATCH /sites/{site}`. */
export const SITE_FIELDS = [
  'name',
  'url',
  'region',
  'latitude',
  'longitude',
  'networks',
  'parent',
  'capacityBytes',
  'isDefault',
  'caCertificate',
] as const

const MAX_CA_BYTES = 64 * 1024

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

  create(body: unknown): SiteRecord {
    const input = object(body)
    onlyKeys(input, SITE_FIELDS)
    if (input.name === undefined) throw badRequest('name is required (lowercase letters, digits and dashes)')
    if (input.url === undefined) throw badRequest('url is required: where clients reach the cache (https://cache-eu.example.com)')
    const id = newId('s')
    const fields = this.applyFields(EMPTY_FIELDS, input, id)
    this.#o.store.insert(id, fields, this.#o.now())
    return this.#o.store.get(id)!
  }

  update(ref: string, body: unknown): SiteRecord {
    const site = this.get(ref)
    const input = object(body)
    onlyKeys(input, SITE_FIELDS)
    const fields = this.applyFields(site, input, site.id)
    this.#o.store.update(site.id, fields, this.#o.now())
    return this.#o.store.get(site.id)!
  }

  remove(ref: string): void {
    const site = this.get(ref)
    this.#o.store.delete(site.id)
  }

  /**
   * `current` with the fields of `input` checked and applied. A name that is taken is 409 `SITE_EXISTS`; a parent
   * that is unknown, the site itself, or would make a loop is 400.
   */
  applyFields(current: SiteFields, input: Record<string, unknown>, siteId: string): SiteFields {
    const f: SiteFields = { ...current, networks: [...current.networks] }
    if (input.name !== undefined) {
      if (typeof input.name !== 'string' || !SITE_NAME_RE.test(input.name))
        throw badRequest('name must be 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit')
      const other = this.#o.store.byName(input.name)
      if (other && other.id !== siteId) throw new ApiError('SITE_EXISTS', `a site named "${input.name}" exists already`)
      f.name = input.name
    }
    if (input.url !== undefined) f.url = input.url === null ? null : rootUrl(input.url, 'url')
    if (input.region !== undefined) f.region = input.region === null ? null : str(input.region, 'region', { max: 64 })
    if (input.latitude !== undefined) f.latitude = input.latitude === null ? null : num(input.latitude, 'latitude', -90, 90)
    if (input.longitude !== undefined)
      f.longitude = input.longitude === null ? null : num(input.longitude, 'longitude', -180, 180)
    if ((f.latitude === null) !== (f.longitude === null))
      throw badRequest('latitude and longitude go together: set both, or neither')
    if (input.networks !== undefined) {
      const list = input.networks === null ? [] : strings(input.networks, 'networks', 256)
      f.networks = [...new Set(list.map((n, i) => cidrOrThrow(n, `networks[${i}]`).text))]
    }
    if (input.capacityBytes !== undefined)
      f.capacityBytes = input.capacityBytes === null ? null : int(input.capacityBytes, 'capacityBytes')
    if (input.isDefault !== undefined) f.isDefault = bool(input.isDefault, 'isDefault')
    if (input.caCertificate !== undefined) {
      if (input.caCertificate === null) f.caCertificate = null
      else {
        const pem = str(input.caCertificate, 'caCertificate', { max: MAX_CA_BYTES })
        if (!pem.includes('-----BEGIN CERTIFICATE-----'))
          throw badRequest('caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE----- …)')
        f.caCertificate = pem
      }
    }
    if (input.parent !== undefined) f.parentId = input.parent === null || input.parent === '' ? null : this.#parentId(input.parent, siteId)
    return f
  }

  #parentId(ref: unknown, siteId: string): string {
    if (typeof ref !== 'string') throw badRequest('parent must be the name of another site, or null')
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
