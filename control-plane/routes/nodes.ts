import { Hono, type Context } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { json } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { Heartbeat, JoinRequest, MetricsBatch } from '../schemas.ts'

/** What cache nodes call: joining (join token), heartbeats and metrics (their site credential). */
export function nodeRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const intervals = {
    heartbeatIntervalMs: d.config.heartbeatIntervalMs,
    metricsIntervalMs: d.config.metricsIntervalMs,
  }
  // the credential is checked before the body is read
  const joining = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    d.auth.joinToken(c)
    await next()
  }
  const ownSite = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    d.auth.site(c, c.req.param('siteId') ?? '')
    await next()
  }

  app.post('/join', joining, json(JoinRequest), (c) => {
    const { site, credential } = d.join.join(d.auth.joinToken(c), c.req.valid('json'))
    c.var.log.info({ site: site.name, siteId: site.id }, 'cache node joined')
    return c.json({ site: d.sites.view(site), credential, ...intervals })
  })

  app.post('/sites/:siteId/heartbeat', ownSite, json(Heartbeat), (c) => {
    const state = d.health.heartbeat(c.req.param('siteId'), c.req.valid('json'))
    return c.json({ state, ...intervals })
  })

  app.post('/sites/:siteId/metrics', ownSite, json(MetricsBatch), (c) => {
    const batch = c.req.valid('json')
    const result = d.metrics.ingest(c.req.param('siteId'), batch)
    d.prometheus.reportBatch(result.duplicate, batch.entries.length)
    return c.json(result)
  })

  return app
}
