import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { badRequest } from '../errors.ts'
import { jsonBody } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { clientConfig, CLIENTS, parseOriginHost, type Client } from '../services/client-config.ts'
import { iso } from '../services/input.ts'

/** `/sites`: CRUD (admin; reads also the origin), health and client configuration. */
export function siteRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.get('/', (c) => {
    d.auth.allow(c, 'admin', 'origin')
    return c.json({ sites: d.sites.list().map((s) => d.sites.view(s)) })
  })

  app.post('/', async (c) => {
    d.auth.allow(c, 'admin')
    const site = d.sites.create(await jsonBody(c))
    c.var.log.info({ site: site.name, siteId: site.id }, 'site created')
    return c.json(d.sites.view(site), 201)
  })

  app.get('/:site', (c) => {
    d.auth.allow(c, 'admin', 'origin')
    return c.json(d.sites.view(d.sites.get(c.req.param('site'))))
  })

  app.patch('/:site', async (c) => {
    d.auth.allow(c, 'admin')
    const site = d.sites.update(c.req.param('site'), await jsonBody(c))
    return c.json(d.sites.view(site))
  })

  app.delete('/:site', (c) => {
    d.auth.allow(c, 'admin')
    d.sites.remove(c.req.param('site'))
    return c.body(null, 204)
  })

  app.get('/:site/health', (c) => {
    d.auth.allow(c, 'admin')
    const site = d.sites.get(c.req.param('site'))
    const limit = c.req.query('limit')
    return c.json({
      state: site.healthState,
      since: iso(site.healthSince),
      lastHeartbeatAt: iso(site.lastHeartbeatAt),
      history: d.health
        .history(site.id, limit === undefined ? undefined : Number(limit))
        .map((h) => ({ state: h.state, at: iso(h.at), reason: h.reason })),
    })
  })

  app.get('/:site/client-config', (c) => {
    d.auth.allow(c, 'admin')
    const site = d.sites.get(c.req.param('site'))
    const origin = c.req.query('origin')
    const issuer = d.keys.identity()?.issuer
    const originUrl = new URL(issuer ?? d.config.originUrl.href)
    const host = origin ? parseOriginHost(origin) : originUrl.host
    const config = clientConfig(site, host, originUrl.protocol === 'https:' ? 'https' : 'http')
    const client = c.req.query('client')
    if (client === undefined) return c.json(config)
    if (!(CLIENTS as string[]).includes(client)) throw badRequest(`client must be one of ${CLIENTS.join(', ')}`)
    const file = config.files.find((f) => f.client === (client as Client))!
    return c.text(file.content, 200, { 'Content-Type': 'text/plain; charset=utf-8' })
  })

  return app
}
