import { Hono } from 'hono'
import { strict, text } from '../../../lib/validation.ts'
import type { ApiEnv } from '../../http/api-auth.ts'
import { caller, json } from './input.ts'
import type { ApiServices } from './services.ts'

/**
 * A user's cache setting: Wharf's `cacheSite` (a site's name or id, or null) or DTR's `contentCacheUUID` (a site's
 * id, or '' for none). One of them.
 */
const USER_SETTINGS = strict({
  cacheSite: text(100, 1).nullable().optional(),
  contentCacheUUID: text(100).nullable().optional(),
}).refine((b) => (b.cacheSite === undefined) !== (b.contentCacheUUID === undefined), {
  error: 'must set one of cacheSite or contentCacheUUID',
})

/** DTR's forms.CreateContentCache: the site's name and the URL clients are sent to. */
const CREATE_CONTENT_CACHE = strict({ name: text(63, 1), host: text(2048, 1) })

/**
 * Cache sites, all kept by the control plane:
 *
 *   /caches                       Wharf's list of sites with their health
 *   /content_caches[/<id>]        DTR's: list, register (admins), show, remove (admins)
 *   /accounts/<name>/settings     a user's cache setting, in both spellings
 */
export function cacheRoutes({ caches }: ApiServices) {
  const app = new Hono<ApiEnv>()

  app.get('/caches', async (c) => c.json({ caches: await caches.caches(caller(c)) }))

  app.get('/content_caches', async (c) => c.json(await caches.contentCaches(caller(c))))

  app.post('/content_caches', json(CREATE_CONTENT_CACHE), async (c) =>
    c.json(await caches.createContentCache(caller(c), c.req.valid('json')), 201),
  )

  app.get('/content_caches/:id', async (c) => c.json(await caches.contentCache(caller(c), c.req.param('id'))))

  app.delete('/content_caches/:id', async (c) => {
    await caches.deleteContentCache(caller(c), c.req.param('id'))
    return c.body(null, 204)
  })

  app.get('/accounts/:name/settings', async (c) => c.json(await caches.get(caller(c), c.req.param('name'))))

  app.patch('/accounts/:name/settings', json(USER_SETTINGS), async (c) => {
    const body = c.req.valid('json')
    // DTR clears the setting with an empty contentCacheUUID
    const site = body.cacheSite !== undefined ? body.cacheSite : body.contentCacheUUID || null
    return c.json(await caches.update(caller(c), c.req.param('name'), site))
  })

  return app
}
