import { Hono } from 'hono'
import { flag, strict } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { signedIn } from '../../services/common.ts'
import { caller, json } from './input.ts'
import type { ApiServices } from './services.ts'

const SETTINGS = strict({ createRepositoryOnPush: flag().optional() })

/** Registry settings and key rotation, admins only: /meta/settings, /meta/keys/rotate; feature flags: /meta/features. */
export function settingsRoutes({ settings, caches }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/meta/settings', (c) => c.json(settings.get(caller(c))))

  app.patch('/meta/settings', json(SETTINGS), (c) => c.json(settings.update(caller(c), c.req.valid('json'))))

  // DTR's way of changing settings: the same fields, answered 202 Accepted
  app.post('/meta/settings', json(SETTINGS), (c) => c.json(settings.update(caller(c), c.req.valid('json')), 202))

  // DTR's feature flags, answered for what Wharf has: no scanning, promotion or mirroring policies, and no online
  // garbage collection yet; content caches when a control plane is configured
  app.get('/meta/features', (c) => {
    signedIn(caller(c))
    return c.json({
      scanningLicensed: false,
      scanningEnabled: false,
      promotionLicensed: false,
      mirroringLicensed: false,
      onlineGCEnabled: false,
      ucpHost: '',
      contentCachesEnabled: caches.configured,
    })
  })

  app.post('/meta/keys/rotate', async (c) => c.json(await settings.rotateKeys(caller(c))))

  return app
}
