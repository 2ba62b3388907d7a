import { Hono } from 'hono'
import { strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, json, PAGE_QUERY, query, time } from './input.ts'
import type { ApiServices } from './services.ts'

const CREATE = strict({ name: text(100, 1), expiresAt: time().nullable().optional() })

/** Personal access tokens: /accounts/:name/tokens (users their own, admins anyone's). */
export function tokenApiRoutes({ tokens }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/accounts/:name/tokens', query(PAGE_QUERY), (c) => {
    const { last, limit } = c.req.valid('query')
    const page = tokens.list(caller(c), c.req.param('name'), last, limit)
    return c.json({ tokens: page.items, next: page.next })
  })

  app.post('/accounts/:name/tokens', json(CREATE), (c) => {
    const { token, secret } = tokens.create(caller(c), c.req.param('name'), c.req.valid('json'))
    // the secret is in this response and nowhere else
    return c.json({ ...token, token: secret }, 201)
  })

  app.delete('/accounts/:name/tokens/:id', (c) => {
    tokens.revoke(caller(c), c.req.param('name'), c.req.param('id'))
    return c.body(null, 204)
  })

  return app
}
