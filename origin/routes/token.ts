import type { Context } from 'hono'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { parseScopes, type ResourceAccess } from '../../oci/scope.ts'
import { parseBasic } from '../http/basic-auth.ts'
import { clientAddress } from '../http/client-address.ts'
import type { AppEnv } from '../http/env.ts'
import { LoginError, credentialKind, type AuthService } from '../services/auth.ts'
import { ANONYMOUS, type Principal } from '../services/permissions.ts'
import type { KeyRing } from '../services/keys.ts'
import type { TokenService } from '../services/tokens.ts'

export interface TokenDeps {
  auth: AuthService
  tokens: TokenService
  keys: KeyRing
}

/**
 * The token endpoint of Docker's token authentication (`/auth/token`) and the JWKS that verifies its tokens.
 * GET takes basic auth or nobody (anonymous callers get a token with what anonymous may do, never a 401);
 * POST takes the OAuth2 `password` and `refresh_token` grants.
 */
export function tokenRoutes({ auth, tokens, keys }: TokenDeps) {
  const app = new Hono<AppEnv>()

  app.get('/jwks.json', (c) => c.json(keys.jwks(), 200, { 'Cache-Control': 'max-age=60' }))

  app.get('/token', async (c) => {
    const scopes = (c.req.queries('scope') ?? []).flatMap((s) => parseScopes(s))
    let principal: Principal = ANONYMOUS
    const basic = parseBasic(c.req.header('authorization'))
    if (basic) {
      try {
        principal = await auth.login(basic.username, basic.password, clientAddress(c))
      } catch (err) {
        return loginFailed(c, err)
      }
    }
    const issued = await issue(c, principal, scopes)
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
    }
    // docker login asks for offline_token and then keeps the refresh token instead of the password. A refresh token
    // is a lasting credential, so only a password mints one: after a login with a personal access token docker
    // keeps that token itself, and revoking it still ends the login.
    if (
      c.req.query('offline_token') === 'true' &&
      principal.kind === 'user' &&
      basic &&
      credentialKind(basic.username, basic.password) === 'password'
    ) {
      body.refresh_token = auth.createRefreshToken(principal.id, c.req.query('client_id') ?? 'docker')
    }
    return c.json(body, 200, { 'Cache-Control': 'no-store' })
  })

  // an OAuth2 form is a few hundred bytes; past the bound it is refused as it streams, and the unread rest closes
  // the connection
  const formLimit = bodyLimit({
    maxSize: MAX_TOKEN_FORM_BYTES,
    onError: (c) => {
      c.header('Connection', 'close')
      return oauthError(c, 413, 'invalid_request', `the form exceeds ${MAX_TOKEN_FORM_BYTES} bytes`)
    },
  })

  app.post('/token', formLimit, async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>)
    const field = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : undefined)
    const grantType = field('grant_type')
    const clientId = field('client_id')
    if (!clientId) return oauthError(c, 400, 'invalid_request', 'client_id is required')
    const scopes = parseScopes(field('scope') ?? '')
    let principal: Principal | undefined
    let refreshToken: string | undefined
    if (grantType === 'password') {
      const username = field('username')
      const password = field('password')
      if (!username || password === undefined)
        return oauthError(c, 400, 'invalid_request', 'username and password are required')
      try {
        principal = await auth.login(username, password, clientAddress(c))
      } catch (err) {
        if (err instanceof LoginError && err.reason === 'rate_limited') return loginFailed(c, err)
        return oauthError(c, 401, 'invalid_grant', 'invalid username or password')
      }
      if (
        field('access_type') === 'offline' &&
        principal.kind === 'user' &&
        credentialKind(username, password) === 'password'
      )
        refreshToken = auth.createRefreshToken(principal.id, clientId)
    } else if (grantType === 'refresh_token') {
      const presented = field('refresh_token') ?? ''
      principal = auth.redeemRefreshToken(presented)
      if (!principal) return oauthError(c, 401, 'invalid_grant', 'the refresh token is invalid, expired or revoked')
      // the same token again: docker stored it at login and has no way to take a new one
      refreshToken = presented
    } else {
      return oauthError(c, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token')
    }
    const issued = await issue(c, principal, scopes)
    const body: Record<string, unknown> = {
      access_token: issued.token,
      token: issued.token,
      scope: issued.access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' '),
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
    }
    if (refreshToken) body.refresh_token = refreshToken
    return c.json(body, 200, { 'Cache-Control': 'no-store' })
  })

  // every token issued is recorded, with the scope asked for and the scope granted (TokenService.issue)
  const issue = (c: Context, principal: Principal, scopes: ResourceAccess[]) =>
    tokens.issue(principal, scopes, { address: clientAddress(c) })

  return app
}

function loginFailed(c: Context, err: unknown) {
  if (err instanceof LoginError && err.reason === 'rate_limited') {
    return c.json(
      { errors: [{ code: 'TOOMANYREQUESTS', message: err.message, detail: { retryAfter: err.retryAfter } }] },
      429,
      { 'Retry-After': String(err.retryAfter) },
    )
  }
  return c.json({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password', detail: null }] }, 401, {
    'WWW-Authenticate': 'Basic realm="wharf"',
  })
}

/** Largest POST /auth/token form read. */
export const MAX_TOKEN_FORM_BYTES = 64 * 1024 // 64KiB

function oauthError(c: Context, status: 400 | 401 | 413, error: string, description: string) {
  return c.json({ error, error_description: description }, status, { 'Cache-Control': 'no-store' })
}
