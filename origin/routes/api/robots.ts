import { Hono } from 'hono'
import { listOf, strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { MAX_ROBOT_PERMISSIONS } from '../../services/robots.ts'
import { caller, json, PAGE_QUERY, query, time } from './input.ts'
import type { ApiServices } from './services.ts'

const PERMISSION = strict({ repository: text(257, 1), actions: listOf(text(20), 3) })
const CREATE = strict({
  name: text(100, 1),
  description: text(1000).optional(),
  expiresAt: time().nullable().optional(),
  permissions: listOf(PERMISSION, MAX_ROBOT_PERMISSIONS),
})

/** Robot accounts of a namespace: /namespaces/:namespace/robots. */
export function robotRoutes({ robots }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/namespaces/:namespace/robots', query(PAGE_QUERY), (c) => {
    const { last, limit } = c.req.valid('query')
    const page = robots.list(caller(c), c.req.param('namespace'), last, limit)
    return c.json({ robots: page.items, next: page.next })
  })

  app.post('/namespaces/:namespace/robots', json(CREATE), (c) => {
    const { robot, secret } = robots.create(caller(c), c.req.param('namespace'), c.req.valid('json'))
    // the secret is in this response and nowhere else
    return c.json({ ...robot, secret }, 201)
  })

  app.get('/namespaces/:namespace/robots/:name', (c) =>
    c.json(robots.get(caller(c), c.req.param('namespace'), c.req.param('name'))),
  )

  app.delete('/namespaces/:namespace/robots/:name', (c) => {
    robots.delete(caller(c), c.req.param('namespace'), c.req.param('name'))
    return c.body(null, 204)
  })

  return app
}
