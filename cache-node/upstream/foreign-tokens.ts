import type { Dispatcher } from 'undici'
import type { BearerChallenge } from '../../oci/challenge.ts'
import { TokenClient, TokenError } from '../../oci/token-client.ts'
import { UpstreamError } from '../errors.ts'

/**
 * Anonymous tokens from a foreign registry's token realm (Docker token authentication without credentials),
 * kept by scope until shortly before they expire (oci/token-client.ts). The cache never sends any caller's
 * credentials to a foreign registry, so it only ever holds what that registry gives everybody.
 */
export class ForeignTokens {
  readonly #upstream: string
  readonly #client: TokenClient
  /** The realm and service the registry challenged with last: tokens for new scopes are asked for up front. */
  #challenge: BearerChallenge | undefined

  constructor(opts: { agent: Dispatcher; now: () => number; upstream: string; timeoutMs: number }) {
    this.#upstream = opts.upstream
    this.#client = new TokenClient({
      dispatcher: opts.agent,
      now: opts.now,
      timeoutMs: opts.timeoutMs,
      userAgent: 'wharf-cache',
    })
  }

  /** A live token for the scope from the realm challenged with before, if one is held. */
  cached(scope: string): string | undefined {
    return this.#challenge ? this.#client.cached(this.#challenge, [scope]) : undefined
  }

  /** The realm the registry challenged with before, if it did. */
  get knownChallenge(): BearerChallenge | undefined {
    return this.#challenge
  }

  /** Asks the challenge's realm for an anonymous token (one request per scope at a time). */
  async fetch(challenge: BearerChallenge, scope: string): Promise<string> {
    const known = { realm: challenge.realm, service: challenge.service }
    try {
      const token = await this.#client.token(known, [scope])
      this.#challenge = known
      return token
    } catch (err) {
      throw this.#translate(err, challenge)
    }
  }

  #translate(err: unknown, challenge: BearerChallenge): unknown {
    if (!(err instanceof TokenError)) return err
    const up = this.#upstream
    switch (err.code) {
      case 'TOKEN_REALM_INVALID':
        return new UpstreamError(
          'UPSTREAM_INVALID',
          up,
          `upstream ${up} challenged with an unusable token realm "${challenge.realm.slice(0, 100)}"`,
        )
      case 'TOKEN_UNAVAILABLE':
        return new UpstreamError(
          'UPSTREAM_UNAVAILABLE',
          up,
          `the token service of upstream ${up} (${originOf(challenge.realm)}) could not be reached`,
          { cause: err.cause },
        )
      default:
        return new UpstreamError(
          'UPSTREAM_INVALID',
          up,
          `the token service of upstream ${up} answered ${err.status ?? 'nothing'} without a token`,
        )
    }
  }
}

function originOf(realm: string): string {
  try {
    return new URL(realm).origin
  } catch {
    return realm.slice(0, 100)
  }
}
