import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { jsonBody } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'

/** `/networks` (admin): locations for addresses the IP database cannot place. */
export function networkRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.get('/', (c) => {
    d.auth.allow(c, 'admin')
    return c.json({ networks: d.networks.list() })
  })

  app.post('/', async (c) => {
    d.auth.allow(c, 'admin')
    return c.json(d.networks.create(await jsonBody(c)), 201)
  })

  app.delete('/:id', (c) => {
    d.auth.allow(c, 'admin')
    d.networks.delete(c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
