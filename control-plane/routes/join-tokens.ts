import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { json } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'
import { JoinTokenCreate, type JoinTokenCreated } from '../schemas.ts'

/** `/join-tokens` (admin). The token's text appears only in the answer to its creation. */
export function joinTokenRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(d.auth.only('admin'))

  app.post('/', json(JoinTokenCreate), (c) => {
    const { view, token } = d.join.create(c.req.valid('json'))
    c.var.log.info({ joinTokenId: view.id, site: view.site }, 'join token created')
    const created: JoinTokenCreated = { id: view.id, token, site: view.site, expiresAt: view.expiresAt, usesLeft: view.usesLeft }
    return c.json(created, 201)
  })

  app.get('/', (c) => c.json({ joinTokens: d.join.list() }))

  app.delete('/:id', (c) => {
    d.join.revoke(c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
