import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { jsonBody } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'

/** What cache nodes call: joining (join token), heartbeats and metrics (their site credential). */
export function nodeRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const intervals = {
    heartbeatIntervalMs: d.config.heartbeatIntervalMs,
    metricsIntervalMs: d.config.metricsIntervalMs,
  }

  app.post('/join', async (c) => {
    const token = d.auth.joinToken(c)
    const { site, credential } = d.join.join(token, await jsonBody(c))
    c.var.log.info({ site: site.name, siteId: site.id }, 'cache node joined')
    return c.json({ site: d.sites.view(site), credential, ...intervals })
  })

  app.post('/sites/:siteId/heartbeat', async (c) => {
    const siteId = c.req.param('siteId')
    d.auth.site(c, siteId)
    const state = d.health.heartbeat(siteId, await jsonBody(c))
    return c.json({ state, ...intervals })
  })

  app.post('/sites/:siteId/metrics', async (c) => {
    const siteId = c.req.param('siteId')
    d.auth.site(c, siteId)
    return c.json(d.metrics.ingest(siteId, await jsonBody(c)))
  })

  return app
}
