import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Hono, type Context } from 'hono'
import type { Logger } from 'pino'
import { Agent } from 'undici'
import { CacheAccess } from './auth/access.ts'
import { OriginKeys } from '../lib/origin-keys.ts'
import type { CacheConfig, UpstreamConfig } from './config.ts'
import { UpstreamError } from './errors.ts'
import type { AppEnv } from './http/env.ts'
import { requestId } from 'hono/request-id'
import { databaseCheck, diskCheck, healthRoutes, UpstreamProbe, type ReadinessCheck } from '../lib/health.ts'
import { metricsHandler } from '../lib/metrics.ts'
import { requestLog } from '../lib/request-log.ts'
import { Metrics, requestOutcome } from './metrics.ts'
import { v2Routes } from './routes/v2.ts'
import { BlobService } from './services/blobs.ts'
import { ListingService } from './services/listings.ts'
import { ManifestService } from './services/manifests.ts'
import { BlobStore, type RepairReport } from './store/blob-store.ts'
import { IndexDb } from './store/index-db.ts'
import { Scrubber } from './store/scrub.ts'
import { Router, type Rule } from './upstream/router.ts'
import { Upstream } from './upstream/upstream.ts'
import { ConfigError } from '../lib/config.ts'
import { SiteAgent } from './site/agent.ts'
import { loadSiteIdentity, SITE_FILE, type SiteIdentity } from './site/identity.ts'
import { Usage } from './site/usage.ts'
import { wharfVersion } from './version.ts'

export interface CacheDeps {
  config: Readonly<CacheConfig>
  log: Logger
  index: IndexDb
  store: BlobStore
  keys: OriginKeys
  access: CacheAccess
  router: Router
  blobs: BlobService
  manifests: ManifestService
  listings: ListingService
  metrics: Metrics
  /** This node as a site of its control plane (CACHE_CONTROL_PLANE_URL); undefined for a plain cache. */
  site: SiteAgent | undefined
  /** What start-up found to repair in the store. */
  repair: RepairReport
  /** What /readyz asks: the index, the data disk, the default upstream. */
  readiness: ReadinessCheck[]
  now: () => number
  /** Stops background work and closes connections and the index. */
  close(): Promise<void>
}

/** Opens the index and the store under the data folder, learns the origin's keys and builds the services. */
export async function createDeps(
  config: Readonly<CacheConfig>,
  log: Logger,
  now: () => number = Date.now,
): Promise<CacheDeps> {
  await mkdir(config.dataDir, { recursive: true })
  // before anything is opened: a node that must join but cannot is a configuration error
  let storedSite: SiteIdentity | undefined
  if (config.controlPlane) {
    const cp = config.controlPlane
    const stored = await loadSiteIdentity(config.dataDir, cp.url.href)
    if (stored && 'identity' in stored) storedSite = stored.identity
    else if (!cp.joinToken) {
      const file = join(config.dataDir, SITE_FILE)
      throw new ConfigError('cache-node', [
        stored
          ? `${file} holds a site identity for the control plane ${stored.other}, not CACHE_CONTROL_PLANE_URL=${cp.url.href}: set CACHE_JOIN_TOKEN to a join token of the new control plane to join it`
          : `CACHE_CONTROL_PLANE_URL is set but this node has not joined it yet (no ${file}): set CACHE_JOIN_TOKEN to a join token from the control plane (POST /api/v0/join-tokens, or \`wharf join-token create\`) for the first start`,
      ])
    }
  }
  const metrics = new Metrics()
  const index = new IndexDb(join(config.dataDir, 'index.db'), { onOpen: (db) => metrics.timeStatements(db) })
  // eviction also drops a manifest from memory; the manifest service exists only once the store is open
  let forget: (digest: string) => void = () => undefined
  const store = new BlobStore({
    dir: config.dataDir,
    index,
    maxBytes: config.maxBytes,
    fsync: config.fsync,
    now,
    log: log.child({ component: 'store' }),
    onEvict: (digest, size) => {
      metrics.evicted(size)
      forget(digest)
    },
    onCorrupt: (_digest, _size, foundBy) => metrics.corrupt(foundBy),
  })
  const repair = await store.init()
  if (repair.filesRemoved + repair.entriesRemoved + repair.tmpRemoved + repair.unverified > 0)
    log.warn({ ...repair }, 'repaired the store after an unclean stop; unverified entries are re-hashed before use')
  const scrubber = new Scrubber({
    store,
    index,
    bytesPerSecond: config.scrubBytesPerSecond,
    intervalMs: config.scrubIntervalMs,
    now,
    log: log.child({ component: 'scrub' }),
    onBytes: (n) => metrics.scrubbed(n),
  })

  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 })
  const keys = new OriginKeys({
    originUrl: config.originUrl,
    index,
    agent,
    now,
    log: log.child({ component: 'origin-keys' }),
    refreshMs: config.jwksRefreshMs,
    cooldownMs: config.jwksCooldownMs,
    timeoutMs: Math.min(config.upstreamTimeoutMs, 10_000),
  })
  await keys.start()
  let site: SiteAgent | undefined
  const access = new CacheAccess({
    keys,
    originName: config.originUrl.origin,
    foreignPull: config.foreignPull,
    now,
    siteId: () => site?.identity()?.siteId,
  })

  const upstreams = new Map<string, Upstream>()
  const upstream = (cfg: UpstreamConfig): Upstream => {
    let u = upstreams.get(cfg.key)
    if (!u) {
      u = new Upstream(cfg, {
        concurrency: config.upstreamConcurrency,
        timeoutMs: config.upstreamTimeoutMs,
        retries: config.upstreamRetries,
        agent,
        now,
        log: log.child({ component: 'upstream', upstream: cfg.url.origin }),
        expectedRealm: cfg.kind === 'wharf' ? () => originRealm(keys, config) : undefined,
        fillHeader: cfg.kind === 'wharf' ? () => site?.identity()?.siteId ?? '1' : undefined,
      })
      upstreams.set(cfg.key, u)
    }
    return u
  }
  const rules: Rule[] = config.rules.map((r) =>
    r.match === 'ns'
      ? { match: 'ns', ns: r.ns, upstream: upstream(r.upstream) }
      : { match: 'prefix', prefix: r.prefix, upstream: upstream(r.upstream) },
  )
  const router = new Router({
    fallback: upstream(config.upstream),
    rules,
    dockerMirror: config.dockerMirror,
    dockerMirrorNames: config.dockerMirrorNames,
    defaultHosts: () => {
      const issuer = keys.identity()?.issuer
      return [
        config.originUrl.host,
        config.upstream.url.host,
        config.publicUrl.host,
        ...(issuer ? [new URL(issuer).host] : []),
      ]
    },
  })

  const blobs = new BlobService({
    store,
    index,
    metrics,
    log,
    now,
    maxResumes: config.upstreamRetries,
    verifyReads: config.verifyReads,
  })
  const manifests = new ManifestService({
    store,
    index,
    metrics,
    log,
    now,
    tagTtlMs: config.tagTtlMs,
    memoryBytes: config.manifestMemoryBytes,
  })
  forget = (digest) => manifests.forget(digest)
  const listings = new ListingService({ metrics, log })
  if (config.controlPlane) {
    const usage = new Usage(now)
    metrics.usage = usage
    site = new SiteAgent({
      controlPlane: config.controlPlane,
      publicUrl: config.publicUrl,
      dataDir: config.dataDir,
      capacityBytes: config.maxBytes,
      dockerMirror: config.dockerMirror,
      version: wharfVersion(),
      identity: storedSite,
      index,
      usage,
      metrics,
      diskUsedBytes: () => store.usedBytes,
      agent,
      log: log.child({ component: 'site' }),
      now,
    })
  }
  const joined = site
  const siteGauges = joined ? { site: () => joined.gauges() } : {}
  metrics.gauges = {
    ...siteGauges,
    diskUsedBytes: () => store.usedBytes,
    diskMaxBytes: () => store.maxBytes,
    entries: () => index.entryCount(),
    fillsInFlight: () => blobs.fillsInFlight,
    reservedBytes: () => store.reservedBytes,
    upstreams: () => router.upstreams().map((u) => ({ name: u.name, active: u.active, queued: u.queued })),
  }
  site?.start()
  scrubber.start()
  return {
    config,
    log,
    index,
    store,
    keys,
    access,
    router,
    blobs,
    manifests,
    listings,
    metrics,
    site,
    repair,
    readiness: [
      databaseCheck(() => index.ping()),
      diskCheck(config.dataDir),
      new UpstreamProbe({ name: 'upstream', url: new URL('/v2/', config.upstream.url), now, dispatcher: agent }),
    ],
    now,
    async close() {
      // first: the last usage goes to the outbox in the index, and maybe to the control plane
      await site?.close()
      keys.stop()
      await Promise.all([...upstreams.values()].map((u) => u.close()))
      await agent.close()
      await scrubber.stop()
      index.close()
      // last: nothing writes any more, so the next start may trust the entries as they were verified
      await store.markCleanStop()
    },
  }
}

/** The cache node's HTTP application; no I/O happens here. */
export function buildApp(deps: CacheDeps) {
  const app = new Hono<AppEnv>()
  app.use(requestId(), async (c, next) => {
    c.set('served', { bytes: 0 })
    await next()
  })
  app.use(
    requestLog(deps.log, {
      // the content a request served: kind, repository, upstream and how the cache answered (see requestOutcome)
      fields: (c0, r) => {
        const served = (c0 as Context<AppEnv>).var.served
        return served.kind
          ? {
              kind: served.kind,
              repository: served.repository,
              upstream: served.upstream,
              cache: requestOutcome(served.cache, r.status),
            }
          : {}
      },
      onDone: (r, c0) => {
        const c = c0 as Context<AppEnv>
        const served = c.var.served
        deps.metrics.httpRequest(r)
        if (!served.kind) return
        if (!c.env?.outgoing && served.bytes === 0 && r.method !== 'HEAD') served.bytes = r.bytesOut
        deps.metrics.request({
          kind: served.kind,
          cache: served.cache,
          status: r.status,
          repository: served.repository,
          bytes: served.bytes,
        })
      },
    }),
  )
  app.route(
    '/v2/',
    v2Routes({
      ...deps,
      originPublicUrl: () => deps.keys.identity()?.issuer ?? deps.config.originUrl.origin,
    }),
  )
  app.get(
    '/metrics',
    metricsHandler({
      render: () => deps.metrics.render(),
      token: deps.config.metricsToken,
      tokenVariable: 'CACHE_METRICS_TOKEN',
    }),
  )
  app.route('/', healthRoutes(deps.readiness))
  // the first health endpoint, kept for the scripts that call it
  app.get('/health', (c) =>
    c.json({
      status: 'ok',
      origin: deps.keys.identity() ? 'known' : 'not reached yet',
      ...(deps.site ? { site: deps.site.identity()?.siteName ?? 'not joined yet' } : {}),
    }),
  )
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  )
  return app
}

/** The origin's token realm, which a wharf upstream must challenge with before it is sent callers' tokens. */
async function originRealm(keys: OriginKeys, config: Readonly<CacheConfig>): Promise<string> {
  const known = keys.identity() ?? ((await keys.refresh()) ? keys.identity() : undefined)
  if (!known) {
    throw new UpstreamError(
      'UPSTREAM_UNAVAILABLE',
      config.originUrl.origin,
      `the origin ${config.originUrl.origin} has not been reached yet to learn its token realm`,
    )
  }
  return known.realm
}
