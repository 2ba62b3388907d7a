import type { Context, MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import { ApiError } from '../../lib/api-error.ts'
import type { AppEnv } from './env.ts'
import { clientAddress } from './client-address.ts'
import { parseBasic } from './basic-auth.ts'
import { LoginError, PAT_PREFIX, credentialKind, type AuthService } from '../services/auth.ts'
import { ANONYMOUS, type CredentialKind, type Principal } from '../services/permissions.ts'

export const SESSION_COOKIE = 'wharf_session'

export interface ApiEnv extends AppEnv {
  Variables: AppEnv['Variables'] & { principal: Principal; via: CredentialKind }
}

type ApiAuthDeps = { auth: AuthService }

/**
 * Resolves the caller of an /api/v0 request from what a person or a script holds on purpose: basic auth (a password,
 * a personal access token or a robot secret), a personal access token as a bearer token, or the web session cookie.
 * Registry tokens from /auth/token are refused here: they are handed to registries and caches and forwarded by them,
 * so they are worth exactly their registry scope and nothing on this API. Bad credentials are a 401 at once; no
 * credentials make the caller anonymous.
 */
export function apiAuth(deps: ApiAuthDeps): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const { principal, via } = await resolve(c, deps)
    c.set('principal', principal)
    c.set('via', via)
    await next()
  }
}

async function resolve(c: Context<ApiEnv>, deps: ApiAuthDeps): Promise<{ principal: Principal; via: CredentialKind }> {
  const header = c.req.header('authorization')
  const basic = parseBasic(header)
  if (basic) {
    try {
      const principal = await deps.auth.login(basic.username, basic.password, clientAddress(c))
      return { principal, via: credentialKind(basic.username, basic.password) }
    } catch (err) {
      if (err instanceof LoginError && err.reason === 'rate_limited') {
        throw new ApiError('TOO_MANY_REQUESTS', err.message, { headers: { 'Retry-After': String(err.retryAfter) } })
      }
      throw new ApiError('UNAUTHORIZED', 'invalid username or password')
    }
  }
  const bearer = header && /^Bearer\s+(\S+)$/i.exec(header)?.[1]
  if (bearer) {
    if (!bearer.startsWith(PAT_PREFIX)) {
      throw new ApiError(
        'UNAUTHORIZED',
        'the API takes a personal access token as a bearer token, basic auth or a session; registry tokens from /auth/token are for /v2/ only',
      )
    }
    const principal = deps.auth.redeemPersonalToken(bearer)
    if (!principal) throw new ApiError('UNAUTHORIZED', 'invalid, expired or revoked access token')
    return { principal, via: 'personal_token' }
  }
  const cookie = getCookie(c, SESSION_COOKIE)
  if (cookie) {
    const principal = deps.auth.sessionPrincipal(cookie)
    if (principal) return { principal, via: 'session' }
  }
  return { principal: ANONYMOUS, via: 'none' }
}

/** The calling user, or 401. */
export function requireUser(c: Context<ApiEnv>): Extract<Principal, { kind: 'user' }> {
  const p = c.get('principal')
  if (p.kind !== 'user')
    throw new ApiError('UNAUTHORIZED', 'sign in first (basic auth, a personal access token or a session)')
  return p
}

/** The calling system administrator, or 401/403. */
export function requireAdmin(c: Context<ApiEnv>): Extract<Principal, { kind: 'user' }> {
  const p = requireUser(c)
  if (!p.isAdmin) throw new ApiError('FORBIDDEN', 'only system administrators may do this')
  return p
}
