import { Hono } from 'hono'
import type { ControlPlaneDeps } from '../deps.ts'
import { jsonBody } from '../http/body.ts'
import type { AppEnv } from '../http/env.ts'

/** `/join-tokens` (admin). The token's text appears only in the answer to its creation. */
export function joinTokenRoutes(d: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.post('/', async (c) => {
    d.auth.allow(c, 'admin')
    const { view, token } = d.join.create(await jsonBody(c))
    c.var.log.info({ joinTokenId: view.id, site: view.site }, 'join token created')
    return c.json({ id: view.id, token, site: view.site, expiresAt: view.expiresAt, usesLeft: view.usesLeft }, 201)
  })

  app.get('/', (c) => {
    d.auth.allow(c, 'admin')
    return c.json({ joinTokens: d.join.list() })
  })

  app.delete('/:id', (c) => {
    d.auth.allow(c, 'admin')
    d.join.revoke(c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
