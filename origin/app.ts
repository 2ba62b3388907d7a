import { Hono } from 'hono'
import type { OriginDeps } from './deps.ts'
import { clientAddressMiddleware } from './http/client-address.ts'
import { apiRoutes } from './routes/api/index.ts'
import { tokenRoutes } from './routes/token.ts'
import type { AppEnv } from './http/env.ts'
import { requestLog } from './http/request-log.ts'
import { v2Routes } from './routes/v2.ts'

export type { OriginDeps } from './deps.ts'

/** The origin's HTTP application; no I/O happens here. */
export function buildApp(deps: OriginDeps) {
  const app = new Hono<AppEnv>()
  app.use(clientAddressMiddleware(deps.network.proxies))
  app.use(requestLog(deps.log))
  app.route('/v2/', v2Routes({ ...deps, grants: deps.network.grants, redirects: deps.network.redirects }))
  app.route('/auth', tokenRoutes(deps.identity))
  app.route('/api/v0', apiRoutes(deps))
  app.get('/health', (c) => c.json({ status: 'ok' }))
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404))
  return app
}
