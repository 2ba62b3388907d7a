import { ApiError } from '../../lib/api-error.ts'
import { LoginError, credentialKind, type AuthService } from './auth.ts'
import { audit } from './common.ts'
import type { Events } from './events.ts'
import type { Caller, UserPrincipal } from './permissions.ts'

/** Web sessions: a name and password (or personal access token) traded for a session cookie. */
export class SessionsService {
  readonly #auth: AuthService
  readonly #events: Events

  constructor(deps: { auth: AuthService; events: Events }) {
    this.#auth = deps.auth
    this.#events = deps.events
  }

  /** Checks the credentials (the login, success or failure, is recorded) and starts a session; returns its cookie value. */
  async start(username: string, password: string, address: string): Promise<{ cookie: string; user: UserPrincipal }> {
    // a session may mint credentials, so only what a person types starts one: never a token or a robot's secret
    const kind = credentialKind(username, password)
    if (kind === 'robot') throw new ApiError('FORBIDDEN', 'robot accounts cannot sign in to the web interface')
    if (kind !== 'password') {
      throw new ApiError(
        'FORBIDDEN',
        'sign in with your password: personal access tokens are for scripts and registry clients',
      )
    }
    let user
    try {
      user = await this.#auth.login(username, password, address)
    } catch (err) {
      if (err instanceof LoginError && err.reason === 'rate_limited') {
        throw new ApiError('TOO_MANY_REQUESTS', err.message, { headers: { 'Retry-After': String(err.retryAfter) } })
      }
      if (err instanceof LoginError) throw new ApiError('UNAUTHORIZED', 'invalid username or password')
      throw err
    }
    if (user.kind !== 'user') throw new ApiError('FORBIDDEN', 'robot accounts cannot sign in to the web interface')
    return { cookie: this.#auth.createSession(user.id), user }
  }

  /** Ends the session behind the cookie, if there is one. */
  end(caller: Caller, cookie: string | undefined): void {
    if (!cookie) return
    const user = this.#auth.sessionPrincipal(cookie)
    this.#auth.endSession(cookie)
    if (user) audit(this.#events, { ...caller, principal: user }, 'logout', 'account', user.name)
  }
}
