import { TrieRouter } from 'hono/router/trie-router'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * The methods `app` answers at a path, from its routes (middleware and catch-alls registered for every method do
 * not count), so a known path asked with another method can be a 405 with `Allow` rather than a 404. HEAD comes with
 * GET, as Hono answers it. Read the routes once, on the first call, after every route is registered.
 */
export function allowedMethods(app: { routes: readonly { method: string; path: string }[] }): (path: string) => string[] {
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
