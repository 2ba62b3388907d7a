import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { apiFallthrough } from '../lib/allowed-methods.ts'
import type { ControlPlaneDeps } from './deps.ts'
import { ApiError, apiErrorHandler } from '../lib/api-error.ts'
import { MAX_BODY_BYTES } from './http/body.ts'
import type { AppEnv } from './http/env.ts'
import { requestId } from 'hono/request-id'
import { healthRoutes } from '../lib/health.ts'
import { metricsHandler } from '../lib/metrics.ts'
import { requestLog } from '../lib/request-log.ts'
import { assignmentRoutes } from './routes/assignments.ts'
import { joinTokenRoutes } from './routes/join-tokens.ts'
import { networkRoutes } from './routes/networks.ts'
import { nodeRoutes } from './routes/nodes.ts'
import { reportRoutes } from './routes/reports.ts'
import { siteRoutes } from './routes/sites.ts'

export type { ControlPlaneDeps } from './deps.ts'

/** The control plane's HTTP application; no I/O happens here. */
export function buildApp(deps: ControlPlaneDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(
    requestId(),
    requestLog(deps.log, {
      // the kind of caller, once auth has found it; never the Authorization header, the query or a body
      fields: (c) => {
        const caller = (c as Context<AppEnv>).var.caller
        return {
          caller: caller?.kind,
          ...(caller && 'siteId' in caller ? { siteId: caller.siteId } : {}),
          ...(caller && 'subject' in caller ? { subject: caller.subject } : {}),
        }
      },
      onDone: (r) => deps.prometheus.httpRequest(r),
    }),
  )
  app.get(
    '/metrics',
    metricsHandler({
      render: () => deps.prometheus.render(),
      token: deps.config.metricsToken,
      tokenVariable: 'CONTROL_PLANE_METRICS_TOKEN',
    }),
  )
  app.route('/', healthRoutes(deps.readiness))
  // the first health endpoint, kept as an alias for the scripts that call it
  app.get('/health', (c) => c.json({ status: 'ok', originReached: deps.keys.identity() !== undefined }))

  const api = new Hono<AppEnv>()
  // bounds a body as it streams (a chunked body has no length to check up front); the rest of it is not read, so
  // the connection cannot carry another request
  api.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`, {
          headers: { Connection: 'close' },
        })
      },
    }),
  )
  api.use(deps.auth.middleware())
  api.route('/sites', siteRoutes(deps))
  api.route('/join-tokens', joinTokenRoutes(deps))
  api.route('/assignments', assignmentRoutes(deps))
  api.route('/networks', networkRoutes(deps))
  api.route('/reports', reportRoutes(deps))
  api.route('/', nodeRoutes(deps))
  apiFallthrough(api, '/api/v0')
  app.route('/api/v0', api)

  app.onError(apiErrorHandler(deps.log))
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: `no such endpoint: ${c.req.method} ${c.req.path}` } }, 404),
  )
  return app
}
