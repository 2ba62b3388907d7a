import { TrieRouter } from 'hono/router/trie-router'
import type { Env, Hono } from 'hono'
import { ApiError } from './api-error.ts'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * The methods `app` answers at a path, from its routes (middleware and catch-alls registered for every method do
 * not count), so a known path asked with another method can be a 405 with `Allow` rather than a 404. HEAD comes with
 * GET, as Hono answers it. Read the routes once, on the first call, after every route is registered.
 */
export function allowedMethods(app: {
  routes: readonly { method: string; path: string }[]
}): (path: string) => string[] {
  let router: TrieRouter<true> | undefined
  return (path) => {
    if (!router) {
      router = new TrieRouter<true>()
      for (const r of app.routes) if (r.method !== 'ALL') router.add(r.method, r.path, true)
    }
    const r = router
    return METHODS.filter((m) => r.match(m === 'HEAD' ? 'GET' : m, path)[0].length > 0)
  }
}

/**
 * The last route of an API mounted at `mount` (`/api/v0`): a known path asked with another method is a 405 naming
 * the methods it takes (in `Allow` and the detail), anything else a 404. Hono's route() does not carry notFound
 * into a mounted app, so this is a route of its own; paths are looked up relative to the mount.
 */
export function apiFallthrough<E extends Env>(api: Hono<E>, mount: string): void {
  const allowed = allowedMethods(api)
  const prefix = new RegExp(`^${mount.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?=/|$)`)
  api.all('*', (c) => {
    const methods = allowed(c.req.path.replace(prefix, '') || '/')
    if (methods.length > 0)
      throw new ApiError(
        'METHOD_NOT_ALLOWED',
        `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(', ')}`,
        {
          headers: { Allow: methods.join(', ') },
          detail: { allow: methods },
        },
      )
    throw new ApiError('NOT_FOUND', `no API endpoint ${c.req.method} ${c.req.path}`)
  })
}
