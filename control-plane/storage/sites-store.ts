import type Database from 'better-sqlite3'
import type { Db } from './db.ts'

export type HealthState = 'unknown' | 'up' | 'down'

/** What a cache node last reported in a heartbeat. */
export interface SiteStats {
  version: string
  diskUsedBytes: number
  diskFreeBytes: number
  capacityBytes: number
  hitRatio: number | null
  /** The registry the node answers docker's registry-mirrors requests for (its CACHE_DOCKER_MIRROR), or null. */
  dockerMirror?: string | null
}

/** A site as stored. Times are epoch milliseconds. */
export interface SiteRecord {
  id: string
  name: string
  url: string | null
  region: string | null
  latitude: number | null
  longitude: number | null
  networks: string[]
  parentId: string | null
  capacityBytes: number | null
  isDefault: boolean
  caCertificate: string | null
  credentialHash: string | null
  healthState: HealthState
  healthSince: number | null
  lastHeartbeatAt: number | null
  stats: SiteStats | null
  createdAt: number
  updatedAt: number
}

/** The fields an admin (or a joining node) sets. */
export type SiteFields = Pick<
  SiteRecord,
  'name' | 'url' | 'region' | 'latitude' | 'longitude' | 'networks' | 'parentId' | 'capacityBytes' | 'isDefault' | 'caCertificate'
>

interface Row {
  id: string
  name: string
  url: string | null
  region: string | null
  latitude: number | null
  longitude: number | null
  networks: string
  parent_id: string | null
  capacity_bytes: number | null
  is_default: number
  ca_certificate: string | null
  credential_hash: string | null
  health_state: HealthState
  health_since: number | null
  last_heartbeat_at: number | null
  stats: string | null
  created_at: number
  updated_at: number
}

const toRecord = (r: Row): SiteRecord => ({
  id: r.id,
  name: r.name,
  url: r.url,
  region: r.region,
  latitude: r.latitude,
  longitude: r.longitude,
  networks: JSON.parse(r.networks) as string[],
  parentId: r.parent_id,
  capacityBytes: r.capacity_bytes,
  isDefault: r.is_default === 1,
  caCertificate: r.ca_certificate,
  credentialHash: r.credential_hash,
  healthState: r.health_state,
  healthSince: r.health_since,
  lastHeartbeatAt: r.last_heartbeat_at,
  stats: r.stats === null ? null : (JSON.parse(r.stats) as SiteStats),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

/** The sites table: identity, admin-set fields, credential hash and current health. */
export class SitesStore {
  readonly #db: Db
  readonly #list: Database.Statement<[], Row>
  readonly #byId: Database.Statement<[string], Row>
  readonly #byName: Database.Statement<[string], Row>
  readonly #insert: Database.Statement<Record<string, unknown>>
  readonly #update: Database.Statement<Record<string, unknown>>
  readonly #delete: Database.Statement<[string]>
  readonly #clearDefault: Database.Statement<[string]>
  readonly #setCredential: Database.Statement<[string, number, string]>
  readonly #setHealth: Database.Statement<[string, number, string]>
  readonly #setHeartbeat: Database.Statement<[number, string, string | null, string]>
  readonly #overdue: Database.Statement<[number], Row>

  constructor(db: Db) {
    this.#db = db
    this.#list = db.prepare('SELECT * FROM sites ORDER BY name')
    this.#byId = db.prepare('SELECT * FROM sites WHERE id = ?')
    this.#byName = db.prepare('SELECT * FROM sites WHERE name = ?')
    this.#insert = db.prepare(`INSERT INTO sites (id, name, url, region, latitude, longitude, networks, parent_id,
      capacity_bytes, is_default, ca_certificate, created_at, updated_at) VALUES (@id, @name, @url, @region, @latitude,
      @longitude, @networks, @parentId, @capacityBytes, @isDefault, @caCertificate, @now, @now)`)
    this.#update = db.prepare(`UPDATE sites SET name = @name, url = @url, region = @region, latitude = @latitude,
      longitude = @longitude, networks = @networks, parent_id = @parentId, capacity_bytes = @capacityBytes,
      is_default = @isDefault, ca_certificate = @caCertificate, updated_at = @now WHERE id = @id`)
    this.#delete = db.prepare('DELETE FROM sites WHERE id = ?')
    this.#clearDefault = db.prepare('UPDATE sites SET is_default = 0 WHERE is_default = 1 AND id <> ?')
    this.#setCredential = db.prepare('UPDATE sites SET credential_hash = ?, updated_at = ? WHERE id = ?')
    this.#setHealth = db.prepare('UPDATE sites SET health_state = ?, health_since = ? WHERE id = ?')
    this.#setHeartbeat = db.prepare(
      'UPDATE sites SET last_heartbeat_at = ?, stats = ?, url = coalesce(url, ?) WHERE id = ?',
    )
    this.#overdue = db.prepare("SELECT * FROM sites WHERE health_state = 'up' AND last_heartbeat_at < ?")
  }

  /** Every site, by name. */
  list(): SiteRecord[] {
    return this.#list.all().map(toRecord)
  }

  get(id: string): SiteRecord | undefined {
    const r = this.#byId.get(id)
    return r && toRecord(r)
  }

  byName(name: string): SiteRecord | undefined {
    const r = this.#byName.get(name)
    return r && toRecord(r)
  }

  /** Adds a site; when it is the default, the others stop being it (one transaction). */
  insert(id: string, f: SiteFields, now: number): void {
    this.#db.transaction(() => {
      this.#insert.run({ id, ...params(f), now })
      if (f.isDefault) this.#clearDefault.run(id)
    })()
  }

  /** Replaces a site's admin-set fields; when it becomes the default, the others stop being it. */
  update(id: string, f: SiteFields, now: number): void {
    this.#db.transaction(() => {
      this.#update.run({ id, ...params(f), now })
      if (f.isDefault) this.#clearDefault.run(id)
    })()
  }

  /** Removes a site; its assignments, join tokens, history and batches go with it (foreign keys). */
  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }

  setCredential(id: string, hash: string, now: number): void {
    this.#setCredential.run(hash, now, id)
  }

  setHealth(id: string, state: HealthState, since: number): void {
    this.#setHealth.run(state, since, id)
  }

  /** Records a heartbeat's time and figures; `url` fills the site's URL only when it has none. */
  setHeartbeat(id: string, at: number, stats: SiteStats, url: string | null): void {
    this.#setHeartbeat.run(at, JSON.stringify(stats), url, id)
  }

  /** Sites that are up but whose last heartbeat is older than `before`. */
  overdue(before: number): SiteRecord[] {
    return this.#overdue.all(before).map(toRecord)
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)()
  }
}

function params(f: SiteFields): Record<string, unknown> {
  return {
    name: f.name,
    url: f.url,
    region: f.region,
    latitude: f.latitude,
    longitude: f.longitude,
    networks: JSON.stringify(f.networks),
    parentId: f.parentId,
    capacityBytes: f.capacityBytes,
    isDefault: f.isDefault ? 1 : 0,
    caCertificate: f.caCertificate,
  }
}
