import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, nullable, optional, paging, readJson, text, time } from './input.ts'
import type { ApiServices } from './services.ts'

/** Personal access tokens: /accounts/:name/tokens (users their own, admins anyone's). */
export function tokenApiRoutes({ tokens }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/accounts/:name/tokens', (c) => {
    const { last, limit } = paging(c)
    const page = tokens.list(caller(c), c.req.param('name'), last, limit)
    return c.json({ tokens: page.items, next: page.next })
  })

  app.post('/accounts/:name/tokens', async (c) => {
    const body = await readJson(c, { name: text({ min: 1, max: 100 }), expiresAt: optional(nullable(time())) })
    const { token, secret } = tokens.create(caller(c), c.req.param('name'), body)
    // the secret is in this response and nowhere else
    return c.json({ ...token, token: secret }, 201)
  })

  app.delete('/accounts/:name/tokens/:id', (c) => {
    tokens.revoke(caller(c), c.req.param('name'), c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
