import type { Dispatcher } from 'undici'
import type { BearerChallenge } from '../../oci/challenge.ts'
import { UpstreamError } from '../errors.ts'

/** Tokens are given up this long before their stated expiry, so one never expires on its way. */
const EXPIRY_MARGIN_MS = 10_000
/** Docker's token spec: clients treat anything shorter as 60 seconds. */
const MIN_LIFETIME_S = 60
const MAX_TOKENS = 10_000

/**
 * Anonymous tokens from a foreign registry's token realm (Docker token authentication without credentials),
 * kept by scope until they expire. The cache never sends any caller's credentials to a foreign registry, so it
 * only ever holds what that registry gives everybody.
 */
export class ForeignTokens {
  readonly #agent: Dispatcher
  readonly #now: () => number
  readonly #upstream: string
  readonly #timeoutMs: number
  readonly #tokens = new Map<string, { token: string; until: number }>()
  readonly #inflight = new Map<string, Promise<string>>()
  /** The realm and service the registry challenged with last: tokens for new scopes are asked for up front. */
  #challenge: BearerChallenge | undefined

  constructor(opts: { agent: Dispatcher; now: () => number; upstream: string; timeoutMs: number }) {
    this.#agent = opts.agent
    this.#now = opts.now
    this.#upstream = opts.upstream
    this.#timeoutMs = opts.timeoutMs
  }

  /** A live token for the scope, if one is held. */
  cached(scope: string): string | undefined {
    const t = this.#tokens.get(scope)
    if (t && t.until > this.#now()) return t.token
    if (t) this.#tokens.delete(scope)
    return undefined
  }

  /** The realm the registry challenged with before, if it did. */
  get knownChallenge(): BearerChallenge | undefined {
    return this.#challenge
  }

  /** Asks the challenge's realm for an anonymous token (one request per scope at a time). */
  fetch(challenge: BearerChallenge, scope: string): Promise<string> {
    let p = this.#inflight.get(scope)
    if (!p) {
      p = this.#fetch(challenge, scope).finally(() => this.#inflight.delete(scope))
      this.#inflight.set(scope, p)
    }
    return p
  }

  async #fetch(challenge: BearerChallenge, scope: string): Promise<string> {
    let realm: URL
    try {
      realm = new URL(challenge.realm)
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('scheme')
    } catch {
      throw new UpstreamError(
        'UPSTREAM_INVALID',
        this.#upstream,
        `upstream ${this.#upstream} challenged with an unusable token realm "${challenge.realm.slice(0, 100)}"`,
      )
    }
    if (challenge.service) realm.searchParams.set('service', challenge.service)
    realm.searchParams.set('scope', scope)
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown }
    let status: number
    try {
      const res = await this.#agent.request({
        origin: realm.origin,
        path: `${realm.pathname}${realm.search}`,
        method: 'GET',
        headers: { 'user-agent': 'wharf-cache' },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      })
      status = res.statusCode
      body = status === 200 ? ((await res.body.json()) as typeof body) : (await res.body.dump(), {})
    } catch (err) {
      throw new UpstreamError(
        'UPSTREAM_UNAVAILABLE',
        this.#upstream,
        `the token service of upstream ${this.#upstream} (${realm.origin}) could not be reached`,
        { cause: err },
      )
    }
    const token =
      typeof body.token === 'string'
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : undefined
    if (!token) {
      throw new UpstreamError(
        'UPSTREAM_INVALID',
        this.#upstream,
        `the token service of upstream ${this.#upstream} answered ${status} without a token`,
      )
    }
    const lifetime = Math.max(typeof body.expires_in === 'number' ? body.expires_in : 0, MIN_LIFETIME_S)
    this.#challenge = { realm: challenge.realm, service: challenge.service }
    if (this.#tokens.size >= MAX_TOKENS) this.#tokens.clear()
    this.#tokens.set(scope, { token, until: this.#now() + lifetime * 1000 - EXPIRY_MARGIN_MS })
    return token
  }
}
