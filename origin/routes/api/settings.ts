import { Hono } from 'hono'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, flag, optional, readJson } from './input.ts'
import type { ApiServices } from './services.ts'

/** Registry settings and key rotation, admins only: /meta/settings, /meta/keys/rotate. */
export function settingsRoutes({ settings }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/meta/settings', (c) => c.json(settings.get(caller(c))))

  app.patch('/meta/settings', async (c) => {
    const patch = await readJson(c, { createRepositoryOnPush: optional(flag()) })
    return c.json(settings.update(caller(c), patch))
  })

  app.post('/meta/keys/rotate', async (c) => c.json(await settings.rotateKeys(caller(c))))

  return app
}
