import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, nullable, readJson, text } from './input.ts'
import type { ApiServices } from './services.ts'

/** Cache sites (/caches) and a user's cache setting (/accounts/:name/settings), both kept by the control plane. */
export function cacheRoutes({ caches }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/caches', async (c) => c.json({ caches: await caches.caches(caller(c)) }))

  app.get('/accounts/:name/settings', async (c) => c.json(await caches.get(caller(c), c.req.param('name'))))

  app.patch('/accounts/:name/settings', async (c) => {
    const body = await readJson(c, { cacheSite: nullable(text({ min: 1, max: 100 })) })
    return c.json(await caches.update(caller(c), c.req.param('name'), body.cacheSite))
  })

  return app
}
