import { OciError } from '../../oci/errors.ts'
import { bearerChallenge, formatScope, holds } from '../../oci/scope.ts'
import type { TokenService } from '../services/tokens.ts'
import type { AccessController, AccessNeed, Principal } from './access.ts'

/**
 * Docker token authentication on /v2/: every request carries a bearer token from /auth/token, and each route's
 * needs must be in the token's `access`. Otherwise the answer is 401 with a challenge naming the scope to ask for.
 * It only decides: what a push creates (a repository that does not exist yet) is the registry service's.
 */
export class TokenAccessController implements AccessController {
  readonly #tokens: TokenService
  readonly #realm: string

  constructor(deps: { tokens: TokenService; realm: string }) {
    this.#tokens = deps.tokens
    this.#realm = deps.realm
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
          throw this.#challenge(
            `access to ${need.type} ${need.name} (${action}) was not granted`,
            scope,
            'insufficient_scope',
          )
        }
      }
    }
    return { subject: token.subject, actor: token.actor }
  }

  async allows(req: Request, need: AccessNeed): Promise<boolean> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
    const token = bearer ? await this.#tokens.verify(bearer) : undefined
    return !!token && need.actions.every((a) => holds(token.access, need.type, need.name, a))
  }

  #challenge(message: string, scope: string, error?: 'invalid_token' | 'insufficient_scope'): OciError {
    return new OciError('UNAUTHORIZED', message, {
      headers: {
        'WWW-Authenticate': bearerChallenge({
          realm: this.#realm,
          service: this.#tokens.service,
          scope: scope || undefined,
          error,
        }),
      },
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
