import type { Context, MiddlewareHandler } from 'hono'
import type { OriginKeys } from '../../lib/origin-keys.ts'
import { ApiError } from '../../lib/api-error.ts'
import { holdsRole, type OriginTokens } from '../services/origin-tokens.ts'
import { parseSiteCredential, secretMatches } from '../services/secrets.ts'
import type { SitesStore } from '../storage/sites-store.ts'
import type { AppEnv, Caller } from './env.ts'

export const ADMIN_SCOPE = 'controlplane:admin:*'

/** Origin credentials that are no token: sent here by mistake, they get a message saying what to send instead. */
const WRONG_KINDS = [
  { prefix: 'wharf_pat_', name: 'a personal access token' },
  { prefix: 'wharf_rt_', name: 'a refresh token' },
] as const

export interface AuthOptions {
  keys: OriginKeys
  tokens: OriginTokens
  sites: SitesStore
}

/**
 * The credential table of docs/network-protocol.md: origin JWTs (admin, or the origin itself), site credentials and
 * join tokens. `middleware` finds out who is calling; `allow` and `site` decide per route.
 */
export class Auth {
  readonly #o: AuthOptions

  constructor(o: AuthOptions) {
    this.#o = o
  }

  /** Sets `caller`; a credential that is presented but wrong is refused at once (401). */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      c.set('caller', await this.#identify(c.req.header('authorization')))
      await next()
    }
  }

  async #identify(header: string | undefined): Promise<Caller> {
    if (!header) return { kind: 'anonymous' }
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1]
    if (!token) throw this.challenge('only Bearer credentials are accepted: get a token from the origin', 'invalid_token')
    if (token.startsWith('wharf_site_')) {
      const cred = parseSiteCredential(token)
      const site = cred && this.#o.sites.get(cred.siteId)
      if (!cred || !site || !secretMatches(cred.secret, site.credentialHash))
        throw new ApiError('UNAUTHORIZED', 'the site credential is not valid (a newer join replaced it, or the site was removed)')
      return { kind: 'site', siteId: site.id }
    }
    if (token.startsWith('wharf_join_')) return { kind: 'join', token }
    const wrongKind = WRONG_KINDS.find((k) => token.startsWith(k.prefix))
    if (wrongKind)
      throw this.challenge(
        `${wrongKind.name} is not accepted here: exchange it at the origin's token service (/auth/token, basic auth, scope=${ADMIN_SCOPE}) for a token, as the wharf tool does`,
        'invalid_token',
      )
    this.#ready()
    const checked = await this.#o.tokens.check(token)
    if (!checked.ok)
      throw this.challenge(
        checked.reason === 'expired'
          ? 'the token has expired: get a new one from the origin'
          : "the token is not one the origin signed for this control plane: send a token from the origin's /auth/token",
        'invalid_token',
      )
    const v = checked.token
    if (holdsRole(v.access, 'admin')) return { kind: 'admin', subject: v.subject }
    if (holdsRole(v.access, 'origin')) return { kind: 'origin', subject: v.subject }
    return { kind: 'user', subject: v.subject }
  }

  /** Lets the request through when the caller has one of `roles`; else 401 (no credential) or 403. */
  allow(c: Context<AppEnv>, ...roles: ('admin' | 'origin')[]): Caller {
    const caller = c.get('caller')
    switch (caller.kind) {
      case 'anonymous':
        this.#ready()
        throw this.challenge('authentication required: a token for controlplane:admin:* from the origin')
      case 'admin':
      case 'origin':
        if (roles.includes(caller.kind)) return caller
        throw new ApiError(
          'FORBIDDEN',
          caller.kind === 'origin'
            ? "the origin's token may only resolve assignments, read sites and manage user assignments"
            : 'this route is not for admins',
        )
      case 'user':
        throw new ApiError(
          'FORBIDDEN',
          `${caller.subject || 'this token'} does not hold ${ADMIN_SCOPE}: only system administrators manage the control plane`,
        )
      case 'site':
        throw new ApiError('FORBIDDEN', 'a site credential only sends its own heartbeats and metrics')
      case 'join':
        throw new ApiError('FORBIDDEN', 'a join token only joins (POST /api/v0/join)')
    }
  }

  /** `allow` as a middleware, for routes that check who is calling before they read the body. */
  only(...roles: ('admin' | 'origin')[]): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      this.allow(c, ...roles)
      await next()
    }
  }

  /** Lets the request through when it carries the site credential of `siteId`. */
  site(c: Context<AppEnv>, siteId: string): void {
    const caller = c.get('caller')
    if (caller.kind === 'site') {
      if (caller.siteId === siteId) return
      throw new ApiError('FORBIDDEN', `this site credential is for ${caller.siteId}, not ${siteId}`)
    }
    if (caller.kind === 'anonymous') throw new ApiError('UNAUTHORIZED', 'a site credential (wharf_site_…) is required')
    throw new ApiError('FORBIDDEN', 'only the site itself, with its site credential, sends heartbeats and metrics')
  }

  /** The join token of the request; 401 without one. */
  joinToken(c: Context<AppEnv>): string {
    const caller = c.get('caller')
    if (caller.kind === 'join') return caller.token
    throw new ApiError('UNAUTHORIZED', 'joining needs a join token: Authorization: Bearer wharf_join_…')
  }

  /** A 401 whose challenge sends the client to the origin's token realm for the admin scope. */
  challenge(message: string, error?: 'invalid_token'): ApiError {
    const identity = this.#o.keys.identity()
    if (!identity) return new ApiError('UNAUTHORIZED', message)
    const parts = [`realm="${identity.realm}"`, `service="${identity.service}"`, `scope="${ADMIN_SCOPE}"`]
    if (error) parts.push(`error="${error}"`)
    return new ApiError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': `Bearer ${parts.join(',')}` } })
  }

  #ready(): void {
    if (!this.#o.tokens.ready)
      throw new ApiError(
        'UNAVAILABLE',
        'the control plane has not reached its origin yet, so it cannot check origin tokens; it keeps trying (see CONTROL_PLANE_ORIGIN_URL)',
      )
  }
}
