import { mkdir } from 'node:fs/promises'
import { join as joinPath } from 'node:path'
import type { Logger } from 'pino'
import { Agent } from 'undici'
import { databaseCheck, diskCheck, UpstreamProbe, type ReadinessCheck } from '../lib/health.ts'
import { OriginKeys } from '../lib/origin-keys.ts'
import type { ControlPlaneConfig } from './config.ts'
import { Auth } from './http/auth.ts'
import { ControlPlaneMetrics } from './prometheus.ts'
import { AssignmentsService } from './services/assignments.ts'
import { BandwidthService } from './services/bandwidth.ts'
import { MmdbGeo, type GeoLocator } from './services/geo.ts'
import { HealthService } from './services/health.ts'
import { JoinService } from './services/join.ts'
import { MetricsService } from './services/metrics.ts'
import { NetworksService } from './services/networks.ts'
import { OriginTokens } from './services/origin-tokens.ts'
import { PlacementService } from './services/placement.ts'
import { SitesService } from './services/sites.ts'
import { AssignmentsStore } from './storage/assignments-store.ts'
import { MetaStore, openDb, type Db } from './storage/db.ts'
import { HealthStore } from './storage/health-store.ts'
import { JoinTokensStore } from './storage/join-tokens-store.ts'
import { NetworksStore } from './storage/networks-store.ts'
import { SitesStore, type SiteRecord } from './storage/sites-store.ts'
import { UsageStore } from './storage/usage-store.ts'

/** What the control plane's routes use; built by createDeps below, released by close(). */
export interface ControlPlaneDeps {
  config: Readonly<ControlPlaneConfig>
  log: Logger
  db: Db
  keys: OriginKeys
  auth: Auth
  sites: SitesService
  health: HealthService
  join: JoinService
  assignments: AssignmentsService
  networks: NetworksService
  placement: PlacementService
  metrics: MetricsService
  /** The Prometheus series at /metrics. */
  prometheus: ControlPlaneMetrics
  /** What /readyz asks: the database, the data disk, the origin. */
  readiness: ReadinessCheck[]
  bandwidth: BandwidthService
  now: () => number
  /** Stops the timers and closes the database. */
  close(): Promise<void>
}

export interface CreateDepsOptions {
  /** The clock (health, token lifetimes, join-token expiry). Default Date.now. */
  now?: () => number
  /** Places addresses on the globe; default the offline database in config.geoipDir. */
  geo?: GeoLocator
  /** Run the health sweep timer (default true; tests driving the clock by hand may turn it off). */
  healthTimer?: boolean
}

/** Opens the database under the data folder, starts learning the origin's keys and builds the services. */
export async function createDeps(
  config: Readonly<ControlPlaneConfig>,
  log: Logger,
  opts: CreateDepsOptions | (() => number) = {},
): Promise<ControlPlaneDeps> {
  const o: CreateDepsOptions = typeof opts === 'function' ? { now: opts } : opts
  const now = o.now ?? Date.now
  await mkdir(config.dataDir, { recursive: true })
  const db = openDb(joinPath(config.dataDir, 'control-plane.db'))
  let siteStates: () => SiteRecord['healthState'][] = () => []
  const prometheus = new ControlPlaneMetrics(() => siteStates())
  prometheus.timeStatements(db)
  const siteStore = new SitesStore(db)
  siteStates = () => siteStore.list().map((s) => s.healthState)
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 })
  const keys = new OriginKeys({
    originUrl: config.originUrl,
    index: new MetaStore(db),
    agent,
    now,
    log: log.child({ component: 'origin-keys' }),
    refreshMs: config.jwksRefreshMs,
    // a request naming an unknown key id waits at most this long for the next fetch
    cooldownMs: 2_000,
    timeoutMs: 10_000,
  })
  await keys.start()
  const tokens = new OriginTokens(keys, now)
  const auth = new Auth({ keys, tokens, sites: siteStore })
  const health = new HealthService({
    sites: siteStore,
    history: new HealthStore(db),
    now,
    log: log.child({ component: 'health' }),
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    downAfter: config.downAfter,
  })
  const sites = new SitesService({ store: siteStore, now, evaluateHealth: () => health.evaluate() })
  const join = new JoinService({ tokens: new JoinTokensStore(db), sites, siteStore, now })
  const assignmentStore = new AssignmentsStore(db)
  const networkStore = new NetworksStore(db)
  const usage = new UsageStore(db)
  const placement = new PlacementService({
    sites,
    assignments: assignmentStore,
    networks: networkStore,
    geo: o.geo ?? new MmdbGeo(config.geoipDir),
  })
  if (o.healthTimer !== false) health.start()
  return {
    config,
    log,
    db,
    keys,
    auth,
    sites,
    health,
    join,
    assignments: new AssignmentsService(assignmentStore, sites, now),
    networks: new NetworksService(networkStore, now),
    placement,
    metrics: new MetricsService(usage, now),
    prometheus,
    readiness: [
      databaseCheck(() => db.prepare('SELECT 1').get()),
      diskCheck(config.dataDir),
      new UpstreamProbe({ name: 'origin', url: new URL('/auth/jwks.json', config.originUrl), now, dispatcher: agent }),
    ],
    bandwidth: new BandwidthService(usage, sites, now),
    now,
    async close() {
      health.stop()
      keys.stop()
      await agent.close()
      db.close()
    },
  }
}
