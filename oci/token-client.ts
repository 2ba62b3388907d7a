import { LRUCache } from 'lru-cache'
import type { Dispatcher } from 'undici'
import { lruClock } from '../lib/lru-clock.ts'
import type { BearerChallenge } from './challenge.ts'

/** Tokens are given up this long before their stated expiry, so one never expires on its way. */
const EXPIRY_MARGIN_MS = 10_000
/** Docker's token spec: clients treat anything shorter (or no expires_in) as 60 seconds. */
const MIN_LIFETIME_S = 60
const DEFAULT_MAX_TOKENS = 10_000
const DEFAULT_TIMEOUT_MS = 30_000

export type TokenErrorCode =
  /** The challenge's realm is not an http(s) URL. */
  | 'TOKEN_REALM_INVALID'
  /** The realm could not be reached, or its answer could not be read. */
  | 'TOKEN_UNAVAILABLE'
  /** The realm refused (401/403): wrong or missing credentials, or nothing granted. */
  | 'TOKEN_DENIED'
  /** The realm answered without a token, or with another status. */
  | 'TOKEN_INVALID'

/** A token request that failed; `status` is the realm's answer when there was one. */
export class TokenError extends Error {
  readonly code: TokenErrorCode
  readonly status: number | undefined
  readonly realm: string
  constructor(code: TokenErrorCode, realm: string, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'TokenError'
    this.code = code
    this.realm = realm
    this.status = opts.status
  }
}

/** What the realm is told about the caller: nothing (anonymous), basic credentials, or a refresh token. */
export type TokenCredentials =
  { username: string; password: string } | { refreshToken: string; username?: string } | undefined

export interface TokenClientOptions {
  /** Sends token requests: one dispatcher, or one chosen per realm origin. */
  dispatcher: Dispatcher | ((origin: string) => Dispatcher)
  credentials?: TokenCredentials
  /** Tokens kept (default 10,000), least recently used dropped first. */
  maxTokens?: number
  /** headersTimeout and bodyTimeout of a token request (default 30 s). */
  timeoutMs?: number
  /** Clock for token lifetimes (default performance.now); tests inject one. */
  now?: () => number
  /** Sent as User-Agent (default none). */
  userAgent?: string
}

/**
 * Docker token authentication, the client's half: asks a Bearer challenge's realm for a token for a service and
 * scopes (anonymously, with basic credentials, or with a refresh token through POST as OAuth2 does), keeps each
 * token per realm, service and scopes until shortly before it expires (lru-cache ttl), and asks once at a time
 * per key (lru-cache fetchMethod), however many callers want the same token.
 */
export class TokenClient {
  readonly #o: TokenClientOptions
  readonly #tokens: LRUCache<string, string, { challenge: BearerChallenge; scopes: readonly string[] }>

  constructor(opts: TokenClientOptions) {
    this.#o = opts
    const now = opts.now
    this.#tokens = new LRUCache({
      max: opts.maxTokens ?? DEFAULT_MAX_TOKENS,
      ttl: MIN_LIFETIME_S * 1000 - EXPIRY_MARGIN_MS,
      ...(now ? lruClock(now) : {}),
      fetchMethod: async (_key, _stale, { context, options }) => {
        const { token, lifetimeS } = await this.#request(context.challenge, context.scopes)
        options.ttl = Math.max(lifetimeS * 1000 - EXPIRY_MARGIN_MS, 1)
        return token
      },
    })
  }

  /** A live token for the challenge and scopes, if one is held. */
  cached(challenge: BearerChallenge, scopes: readonly string[]): string | undefined {
    return this.#tokens.get(key(challenge, scopes))
  }

  /** A token for the challenge and scopes: the held one while it lives, else a new one from the realm. */
  async token(challenge: BearerChallenge, scopes: readonly string[]): Promise<string> {
    const token = await this.#tokens.fetch(key(challenge, scopes), { context: { challenge, scopes } })
    // fetchMethod either returns a token or throws: undefined cannot come back
    return token!
  }

  /** Forgets the token (a 401 with it means the realm no longer honours it). */
  forget(challenge: BearerChallenge, scopes: readonly string[]): void {
    this.#tokens.delete(key(challenge, scopes))
  }

  async #request(challenge: BearerChallenge, scopes: readonly string[]): Promise<{ token: string; lifetimeS: number }> {
    let realm: URL
    try {
      realm = new URL(challenge.realm)
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('scheme')
    } catch {
      throw new TokenError(
        'TOKEN_REALM_INVALID',
        challenge.realm,
        `unusable token realm "${challenge.realm.slice(0, 100)}"`,
      )
    }
    const creds = this.#o.credentials
    const headers: Record<string, string> = {}
    if (this.#o.userAgent) headers['user-agent'] = this.#o.userAgent
    let method: 'GET' | 'POST' = 'GET'
    let body: string | undefined
    if (creds && 'refreshToken' in creds) {
      // docker's OAuth2 flow: a refresh token is posted, never put in a URL
      method = 'POST'
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.refreshToken })
      if (challenge.service) form.set('service', challenge.service)
      if (scopes.length > 0) form.set('scope', scopes.join(' '))
      form.set('client_id', 'wharf')
      body = form.toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    } else {
      if (challenge.service) realm.searchParams.set('service', challenge.service)
      for (const s of scopes) realm.searchParams.append('scope', s)
      if (creds)
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
    }
    const timeout = this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS
    let status: number
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown } = {}
    try {
      const d = this.#o.dispatcher
      const res = await (typeof d === 'function' ? d(realm.origin) : d).request({
        origin: realm.origin,
        path: `${realm.pathname}${realm.search}`,
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      })
      status = res.statusCode
      if (status === 200) answer = (await res.body.json()) as typeof answer
      else await res.body.dump()
    } catch (err) {
      throw new TokenError('TOKEN_UNAVAILABLE', challenge.realm, `token realm ${realm.origin} could not be reached`, {
        cause: err,
      })
    }
    if (status === 401 || status === 403)
      throw new TokenError('TOKEN_DENIED', challenge.realm, `token realm ${realm.origin} refused: ${status}`, {
        status,
      })
    const token =
      typeof answer.token === 'string'
        ? answer.token
        : typeof answer.access_token === 'string'
          ? answer.access_token
          : undefined
    if (!token)
      throw new TokenError(
        'TOKEN_INVALID',
        challenge.realm,
        `token realm ${realm.origin} answered ${status} without a token`,
        {
          status,
        },
      )
    const lifetimeS = Math.max(typeof answer.expires_in === 'number' ? answer.expires_in : 0, MIN_LIFETIME_S)
    return { token, lifetimeS }
  }
}

function key(challenge: BearerChallenge, scopes: readonly string[]): string {
  return `${challenge.realm}\n${challenge.service ?? ''}\n${scopes.join(' ')}`
}
