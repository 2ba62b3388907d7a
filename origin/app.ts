import { Hono, type Context } from 'hono'
import { requestId } from 'hono/request-id'
import { healthRoutes } from '../lib/health.ts'
import { metricsHandler } from '../lib/metrics.ts'
import { requestLog } from '../lib/request-log.ts'
import type { OriginDeps } from './deps.ts'
import { clientAddress, clientAddressMiddleware } from './http/client-address.ts'
import { apiRoutes } from './routes/api/index.ts'
import { createApiServices } from './routes/api/services.ts'
import { uiRoutes } from './ui/routes.tsx'
import { tokenRoutes } from './routes/token.ts'
import type { AppEnv } from './http/env.ts'
import { OriginMetrics } from './prometheus.ts'
import { v2Routes } from './routes/v2.ts'

export type { OriginDeps } from './deps.ts'

/** The origin's HTTP application; no I/O happens here. */
export function buildApp(deps: OriginDeps) {
  const app = new Hono<AppEnv>()
  const { metrics } = deps
  app.use(requestId(), clientAddressMiddleware(deps.network.proxies))
  app.use(
    requestLog(deps.log, {
      fields: (c) => {
        const redirect = (c as Context<AppEnv>).var.redirect
        return redirect ? { redirect } : {}
      },
      onDone: (r) => {
        metrics.httpRequest(r)
        if (OriginMetrics.isUpload(r.method, r.path)) metrics.uploadEnded()
        if (r.route === '/auth/token' && r.status === 200) metrics.tokenIssued()
      },
      client: clientAddress,
    }),
    async (c, next) => {
      if (OriginMetrics.isUpload(c.req.method, c.req.path)) metrics.uploadStarted()
      await next()
    },
  )
  app.route('/v2/', v2Routes({ ...deps, grants: deps.network.grants, redirects: deps.network.redirects }))
  app.route('/auth', tokenRoutes(deps.identity))
  const services = createApiServices(deps)
  app.route('/api/v0', apiRoutes(deps, services))
  app.route('/', uiRoutes(deps, services))
  app.get(
    '/metrics',
    metricsHandler({
      render: () => metrics.render(),
      token: deps.config.metricsToken,
      tokenVariable: 'ORIGIN_METRICS_TOKEN',
    }),
  )
  app.route('/', healthRoutes(deps.readiness, { ping: true }))
  // the first health endpoint, kept for the scripts that call it
  app.get('/health', (c) => c.json({ status: 'ok' }))
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  )
  return app
}
