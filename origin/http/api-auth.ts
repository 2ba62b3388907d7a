import type { Context, MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import { ApiError } from './api-errors.ts'
import type { AppEnv } from './env.ts'
import { clientAddress } from './client-address.ts'
import { parseBasic } from './basic-auth.ts'
import { LoginError, PAT_PREFIX, type AuthService } from '../services/auth.ts'
import { ANONYMOUS, type Principal } from '../services/permissions.ts'
import type { TokenService } from '../services/tokens.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'

export const SESSION_COOKIE = 'wharf_session'

export interface ApiEnv extends AppEnv {
  Variables: AppEnv['Variables'] & { principal: Principal }
}

/**
 * Resolves the caller of an /api/v0 request from, in order: basic auth (password or personal access token), a
 * bearer token (a personal access token, or a registry JWT issued by /auth/token), or the web session cookie.
 * Bad credentials are a 401 at once; no credentials make the caller anonymous.
 */
export function apiAuth(deps: { auth: AuthService; tokens: TokenService; accounts: AccountsStore }): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    c.set('principal', await resolve(c, deps))
    await next()
  }
}

async function resolve(c: Context<ApiEnv>, deps: { auth: AuthService; tokens: TokenService; accounts: AccountsStore }): Promise<Principal> {
  const header = c.req.header('authorization')
  const basic = parseBasic(header)
  if (basic) {
    try {
      return await deps.auth.login(basic.username, basic.password, clientAddress(c))
    } catch (err) {
      if (err instanceof LoginError && err.reason === 'rate_limited') {
        throw new ApiError('TOO_MANY_REQUESTS', err.message, { headers: { 'Retry-After': String(err.retryAfter) } })
      }
      throw new ApiError('UNAUTHORIZED', 'invalid username or password')
    }
  }
  const bearer = header && /^Bearer\s+(\S+)$/i.exec(header)?.[1]
  if (bearer) {
    if (bearer.startsWith(PAT_PREFIX)) {
      const p = deps.auth.redeemPersonalToken(bearer)
      if (!p) throw new ApiError('UNAUTHORIZED', 'invalid, expired or revoked access token')
      return p
    }
    const verified = await deps.tokens.verify(bearer)
    const account = verified?.subject ? deps.accounts.byName(verified.subject) : undefined
    if (!account || !account.active || account.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'invalid or expired bearer token')
    return deps.auth.principalOf(account)
  }
  const cookie = getCookie(c, SESSION_COOKIE)
  if (cookie) {
    const p = deps.auth.sessionPrincipal(cookie)
    if (p) return p
  }
  return ANONYMOUS
}

/** The calling user, or 401. */
export function requireUser(c: Context<ApiEnv>): Extract<Principal, { kind: 'user' }> {
  const p = c.get('principal')
  if (p.kind !== 'user') throw new ApiError('UNAUTHORIZED', 'sign in first (basic auth, a bearer token or a session)')
  return p
}

/** The calling system administrator, or 401/403. */
export function requireAdmin(c: Context<ApiEnv>): Extract<Principal, { kind: 'user' }> {
  const p = requireUser(c)
  if (!p.isAdmin) throw new ApiError('FORBIDDEN', 'only system administrators may do this')
  return p
}
