import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { json, query } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { ClientConfigQuery, HealthQuery, SiteCreate, SitePatch } from '../schemas.ts'
import { clientConfig, parseOriginHost } from '../services/client-config.ts'
import { iso } from '../services/input.ts'

/** `/sites`: CRUD (admin; reads also the origin), health and client configuration. */
export function siteRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const admin = d.auth.only('admin')

  app.get('/', (c) => {
    d.auth.allow(c, 'admin', 'origin')
    return c.json({ sites: d.sites.list().map((s) => d.sites.view(s)) })
  })

  app.post('/', admin, json(SiteCreate), (c) => {
    const site = d.sites.create(c.req.valid('json'))
    c.var.log.info({ site: site.name, siteId: site.id, by: callerName(c.get('caller')) }, 'site created')
    return c.json(d.sites.view(site), 201)
  })

  app.get('/:site', (c) => {
    d.auth.allow(c, 'admin', 'origin')
    return c.json(d.sites.view(d.sites.get(c.req.param('site'))))
  })

  app.patch('/:site', admin, json(SitePatch), (c) => {
    const site = d.sites.update(c.req.param('site'), c.req.valid('json'))
    return c.json(d.sites.view(site))
  })

  app.delete('/:site', admin, (c) => {
    d.sites.remove(c.req.param('site'))
    return c.body(null, 204)
  })

  app.get('/:site/health', admin, query(HealthQuery), (c) => {
    const site = d.sites.get(c.req.param('site'))
    const { limit } = c.req.valid('query')
    return c.json({
      state: site.healthState,
      since: iso(site.healthSince),
      lastHeartbeatAt: iso(site.lastHeartbeatAt),
      history: d.health
        .history(site.id, limit)
        .map((h) => ({ state: h.state, at: iso(h.at), reason: h.reason })),
    })
  })

  app.get('/:site/client-config', admin, query(ClientConfigQuery), (c) => {
    const site = d.sites.get(c.req.param('site'))
    const { origin, client } = c.req.valid('query')
    const issuer = d.keys.identity()?.issuer
    const originUrl = new URL(issuer ?? d.config.originUrl.href)
    const host = origin ? parseOriginHost(origin) : originUrl.host
    const config = clientConfig(site, host, originUrl.protocol === 'https:' ? 'https' : 'http')
    if (client === undefined) return c.json(config)
    const file = config.files.find((f) => f.client === client)!
    return c.text(file.content, 200, { 'Content-Type': 'text/plain; charset=utf-8' })
  })

  return app
}

/** Who asked, for the log: an admin relayed by the origin carries the admin's name. */
function callerName(caller: AppEnv['Variables']['caller']): string | undefined {
  return 'subject' in caller ? caller.subject : undefined
}
