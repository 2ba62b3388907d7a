import { OciError } from '../../oci/errors.ts'
import { bearerChallenge, formatScope, holds } from '../../oci/scope.ts'
import type { Permissions } from '../services/permissions.ts'
import type { TokenService } from '../services/tokens.ts'
import type { Metadata } from '../storage/metadata.ts'
import type { AccessController, AccessNeed, Principal } from './access.ts'

/**
 * Docker token authentication on /v2/: every request carries a bearer token from /auth/token, and each route's
 * needs must be in the token's `access`. Otherwise the answer is 401 with a challenge naming the scope to ask for.
 * A push into a repository that does not exist yet creates it (private) here, or is refused with a reason.
 */
export class TokenAccessController implements AccessController {
  readonly #tokens: TokenService
  readonly #permissions: Permissions
  readonly #meta: Metadata
  readonly #realm: string
  readonly #now: () => number

  constructor(deps: { tokens: TokenService; permissions: Permissions; meta: Metadata; realm: string; now: () => number }) {
    this.#tokens = deps.tokens
    this.#permissions = deps.permissions
    this.#meta = deps.meta
    this.#realm = deps.realm
    this.#now = deps.now
  }

  async authorize(req: Request, needs: AccessNeed[]): Promise<Principal> {
    const scope = needs.map((n) => formatScope(n)).join(' ')
    const header = req.headers.get('authorization')
    const bearer = header && /^Bearer\s+(\S+)$/i.exec(header)?.[1]
    if (!bearer) throw this.#challenge('authentication required', scope)
    const token = await this.#tokens.verify(bearer)
    if (!token) throw this.#challenge('invalid or expired token', scope, 'invalid_token')
    for (const need of needs) {
      for (const action of need.actions) {
        if (!holds(token.access, need.type, need.name, action)) {
          throw this.#challenge(`access to ${need.type} ${need.name} (${action}) was not granted`, scope, 'insufficient_scope')
        }
      }
    }
    const principal = { subject: token.subject, actor: token.actor }
    for (const need of needs) {
      if (need.type === 'repository' && need.actions.includes('push')) this.#ensureRepository(need.name, principal.actor.name)
    }
    return principal
  }

  async allows(req: Request, need: AccessNeed): Promise<boolean> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
    const token = bearer ? await this.#tokens.verify(bearer) : undefined
    return !!token && need.actions.every((a) => holds(token.access, need.type, need.name, a))
  }

  #ensureRepository(name: string, actor: string): void {
    if (this.#meta.repository(name)) return
    if (!this.#permissions.createOnPush()) {
      throw new OciError(
        'DENIED',
        `repository ${name} does not exist and this registry does not create repositories on push; create it first (POST /api/v0/repositories)`,
      )
    }
    if (!name.includes('/')) {
      throw new OciError('NAME_INVALID', `repository names are <namespace>/<name>; "${name}" has no namespace`)
    }
    try {
      this.#meta.createRepository({ name, visibility: 'private', description: '', createdAt: this.#now(), createdBy: actor })
    } catch (err) {
      // another push may have created it in the meantime; anything else is a real failure
      if (!this.#meta.repository(name)) throw err
    }
  }

  #challenge(message: string, scope: string, error?: 'invalid_token' | 'insufficient_scope'): OciError {
    return new OciError('UNAUTHORIZED', message, {
      headers: { 'WWW-Authenticate': bearerChallenge({ realm: this.#realm, service: this.#tokens.service, scope: scope || undefined, error }) },
      detail: scope ? parseDetail(scope) : null,
    })
  }
}

function parseDetail(scope: string) {
  return scope.split(' ').map((s) => {
    const [type, ...rest] = s.split(':')
    const actions = rest.pop() ?? ''
    return { Type: type, Name: rest.join(':'), Action: actions }
  })
}
