import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { json } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { NetworkCreate } from '../schemas.ts'

/** `/networks` (admin): locations for addresses the IP database cannot place. */
export function networkRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(d.auth.only('admin'))

  app.get('/', (c) => c.json({ networks: d.networks.list() }))

  app.post('/', json(NetworkCreate), (c) => c.json(d.networks.create(c.req.valid('json')), 201))

  app.delete('/:id', (c) => {
    d.networks.delete(c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
