import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { OriginDeps } from '../../deps.ts'
import { apiAuth, type ApiEnv } from '../../http/api-auth.ts'
import { apiFallthrough } from '../../../lib/allowed-methods.ts'
import { ApiError, apiErrorHandler } from '../../../lib/api-error.ts'
import { accountRoutes } from './accounts.ts'
import { cacheRoutes } from './caches.ts'
import { eventRoutes } from './events.ts'
import { MAX_BODY_BYTES } from './input.ts'
import { ldapApiRoutes } from './ldap.ts'
import { orgRoutes } from './orgs.ts'
import { repositoryRoutes } from './repositories.ts'
import { robotRoutes } from './robots.ts'
import { createApiServices, type ApiServices } from './services.ts'
import { sessionRoutes } from './session.ts'
import { settingsRoutes } from './settings.ts'
import { tokenApiRoutes } from './tokens.ts'

/**
 * The JSON management API, mounted at /api/v0. Callers authenticate with basic auth (password, personal access
 * token or robot secret), a personal access token as a bearer token, or the session cookie (never a registry token); without credentials they are anonymous. Every failure is
 * `{ error: { code, message, detail } }` with a stable code.
 */
export function apiRoutes(deps: OriginDeps, services: ApiServices = createApiServices(deps)) {
  const api = new Hono<ApiEnv>()

  api.onError(apiErrorHandler(deps.log))

  api.use(async (c, next) => {
    await next()
    // answers are per caller and some carry secrets shown once: nothing here may be cached
    c.header('Cache-Control', 'no-store')
  })
  api.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      // the rest of the body is not read, so the connection cannot carry another request: say so
      onError: () => {
        throw new ApiError('PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`, {
          headers: { Connection: 'close' },
        })
      },
    }),
  )
  api.use(apiAuth({ auth: deps.identity.auth }))

  api.route('/', sessionRoutes(services, deps.config))
  api.route('/', accountRoutes(services))
  api.route('/', tokenApiRoutes(services))
  api.route('/', orgRoutes(services))
  api.route('/', repositoryRoutes(services))
  api.route('/', robotRoutes(services))
  api.route('/', settingsRoutes(services))
  api.route('/', eventRoutes(services))
  api.route('/', cacheRoutes(services))
  api.route('/meta/ldap', ldapApiRoutes(deps))

  apiFallthrough(api, '/api/v0')
  return api
}
