import { mkdir } from 'node:fs/promises'
import { join as joinPath } from 'node:path'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { Logger } from 'pino'
import { Agent } from 'undici'
import { allowedMethods } from '../lib/allowed-methods.ts'
import { OriginKeys } from '../lib/origin-keys.ts'
import type { ControlPlaneConfig } from './config.ts'
import type { ControlPlaneDeps } from './deps.ts'
import { ApiError, apiErrorHandler } from '../lib/api-error.ts'
import { Auth } from './http/auth.ts'
import { MAX_BODY_BYTES } from './http/body.ts'
import type { AppEnv } from './http/env.ts'
import { requestId } from 'hono/request-id'
import { databaseCheck, diskCheck, healthRoutes, UpstreamProbe } from '../lib/health.ts'
import { metricsHandler } from '../lib/metrics.ts'
import { requestLog } from '../lib/request-log.ts'
import { ControlPlaneMetrics } from './prometheus.ts'
import { assignmentRoutes } from './routes/assignments.ts'
import { joinTokenRoutes } from './routes/join-tokens.ts'
import { networkRoutes } from './routes/networks.ts'
import { nodeRoutes } from './routes/nodes.ts'
import { reportRoutes } from './routes/reports.ts'
import { siteRoutes } from './routes/sites.ts'
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
import { MetaStore, openDb } from './storage/db.ts'
import { HealthStore } from './storage/health-store.ts'
import { JoinTokensStore } from './storage/join-tokens-store.ts'
import { NetworksStore } from './storage/networks-store.ts'
import { SitesStore, type SiteRecord } from './storage/sites-store.ts'
import { UsageStore } from './storage/usage-store.ts'

export type { ControlPlaneDeps } from './deps.ts'

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

/** The control plane's HTTP application; no I/O happens here. */
export function buildApp(deps: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(
    requestId(),
    requestLog(deps.log, {
      // the kind of caller, once auth has found it; never the Authorization header, the query or a body
      fields: (c) => {
        const caller = (c as Context<AppEnv>).var.caller
        return {
          caller: caller?.kind,
          ...(caller && 'siteId' in caller ? { siteId: caller.siteId } : {}),
          ...(caller && 'subject' in caller ? { subject: caller.subject } : {}),
        }
      },
      onDone: (r) => deps.prometheus.httpRequest(r),
    }),
  )
  app.get('/metrics', metricsHandler({ render: () => deps.prometheus.render(), token: deps.config.metricsToken, tokenVariable: 'CONTROL_PLANE_METRICS_TOKEN' }))
  app.route('/', healthRoutes(deps.readiness))
  // the first health endpoint, kept as an alias for the scripts that call it
  app.get('/health', (c) => c.json({ status: 'ok', originReached: deps.keys.identity() !== undefined }))

  const api = new Hono<AppEnv>()
  // bounds a body as it streams (a chunked body has no length to check up front); the rest of it is not read, so
  // the connection cannot carry another request
  api.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`, { headers: { Connection: 'close' } })
      },
    }),
  )
  api.use(deps.auth.middleware())
  api.route('/sites', siteRoutes(deps))
  api.route('/join-tokens', joinTokenRoutes(deps))
  api.route('/assignments', assignmentRoutes(deps))
  api.route('/networks', networkRoutes(deps))
  api.route('/reports', reportRoutes(deps))
  api.route('/', nodeRoutes(deps))
  // a known path asked with another method is a 405 naming the methods it takes
  const allowed = allowedMethods(api)
  api.all('*', (c) => {
    const methods = allowed(c.req.path.replace(/^\/api\/v0(?=\/|$)/, '') || '/')
    if (methods.length > 0)
      throw new ApiError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(', ')}`, {
        headers: { Allow: methods.join(', ') },
      })
    throw new ApiError('NOT_FOUND', `no such endpoint: ${c.req.method} ${c.req.path}`)
  })
  app.route('/api/v0', api)

  app.onError(apiErrorHandler(deps.log))
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no such endpoint: ${c.req.method} ${c.req.path}` } }, 404))
  return app
}
