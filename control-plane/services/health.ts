import type { Logger } from 'pino'
import { badRequest, notFound } from '../../lib/api-error.ts'
import type { HealthEvent, HealthStore } from '../storage/health-store.ts'
import type { HealthState, SiteRecord, SitesStore, SiteStats } from '../storage/sites-store.ts'
import type { Heartbeat } from '../schemas.ts'

export interface HealthOptions {
  sites: SitesStore
  history: HealthStore
  now: () => number
  log: Logger
  heartbeatIntervalMs: number
  /** Missed intervals after which a site is down. */
  downAfter: number
}

export interface HeartbeatAnswer {
  state: HealthState
  heartbeatIntervalMs: number
  metricsIntervalMs?: number
}

/**
 * Sites' health from their heartbeats: `unknown` until the first, `up` while they arrive, `down` once `downAfter`
 * intervals pass without one. Each change is a history row with its reason. A timer sweeps every half interval;
 * reads sweep too (`evaluate`), so what they answer never depends on when the timer last ran.
 */
export class HealthService {
  readonly #o: HealthOptions
  #timer: NodeJS.Timeout | undefined

  constructor(o: HealthOptions) {
    this.#o = o
  }

  /** Milliseconds without a heartbeat after which an up site is down. */
  get downAfterMs(): number {
    return this.#o.heartbeatIntervalMs * this.#o.downAfter
  }

  start(): void {
    this.#timer = setInterval(() => {
      try {
        this.evaluate()
      } catch (err) {
        this.#o.log.error({ err }, 'health sweep failed')
      }
    }, Math.max(50, Math.floor(this.#o.heartbeatIntervalMs / 2)))
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
  }

  /** Marks down every up site whose last heartbeat is too old. */
  evaluate(): void {
    const now = this.#o.now()
    for (const site of this.#o.sites.overdue(now - this.downAfterMs)) {
      const silent = Math.floor((now - (site.lastHeartbeatAt ?? now)) / 1000)
      this.#change(site, 'down', now, `no heartbeat for ${silent}s`)
    }
  }

  /** Records a heartbeat from the site (already authenticated as that site). */
  heartbeat(siteId: string, input: Heartbeat): HealthState {
    const stats: SiteStats = {
      version: input.version,
      diskUsedBytes: input.diskUsedBytes,
      diskFreeBytes: input.diskFreeBytes,
      capacityBytes: input.capacityBytes,
      hitRatio: input.hitRatio,
      dockerMirror: input.dockerMirror,
    }
    const url = input.url
    this.evaluate()
    const now = this.#o.now()
    return this.#o.sites.transaction(() => {
      const site = this.#o.sites.get(siteId)
      if (!site) throw notFound(`site ${siteId} does not exist any more`)
      this.#o.sites.setHeartbeat(siteId, now, stats, url)
      if (site.healthState === 'unknown') this.#change(site, 'up', now, 'first heartbeat')
      else if (site.healthState === 'down') this.#change(site, 'up', now, 'heartbeat resumed')
      return 'up' as const
    })
  }

  /** History of a site, newest first. */
  history(siteId: string, limit?: number): HealthEvent[] {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw badRequest('limit must be a positive whole number')
    return this.#o.history.list(siteId, limit)
  }

  #change(site: SiteRecord, state: HealthState, at: number, reason: string): void {
    this.#o.sites.transaction(() => {
      this.#o.sites.setHealth(site.id, state, at)
      this.#o.history.add(site.id, { state, at, reason })
    })
    this.#o.log[state === 'down' ? 'warn' : 'info']({ site: site.name, siteId: site.id, state, reason }, 'site health changed')
  }
}
