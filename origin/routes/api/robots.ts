import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { MAX_ROBOT_PERMISSIONS } from '../../services/robots.ts'
import { caller, listOf, nullable, optional, paging, readJson, shape, text, time } from './input.ts'
import type { ApiServices } from './services.ts'

const PERMISSION = shape({ repository: text({ min: 1, max: 257 }), actions: listOf(text({ max: 20 }), 3) })

/** Robot accounts of a namespace: /namespaces/:namespace/robots. */
export function robotRoutes({ robots }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/namespaces/:namespace/robots', (c) => {
    const { last, limit } = paging(c)
    const page = robots.list(caller(c), c.req.param('namespace'), last, limit)
    return c.json({ robots: page.items, next: page.next })
  })

  app.post('/namespaces/:namespace/robots', async (c) => {
    const body = await readJson(c, {
      name: text({ min: 1, max: 100 }),
      description: optional(text({ max: 1000 })),
      expiresAt: optional(nullable(time())),
      permissions: listOf(PERMISSION, MAX_ROBOT_PERMISSIONS),
    })
    const { robot, secret } = robots.create(caller(c), c.req.param('namespace'), body)
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
