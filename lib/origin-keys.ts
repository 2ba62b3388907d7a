import { importJWK, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { parseBearerChallenge } from '../oci/challenge.ts'
import { JWT_CLOCK_TOLERANCE_S, UnverifiableToken, verifyJwt } from './jwt.ts'

export { JWT_CLOCK_TOLERANCE_S, UnverifiableToken }

/** Where what was learned is kept between runs (a program's own database). */
export interface KeyValueStore {
  getMeta<T>(key: string): T | undefined
  setMeta(key: string, value: unknown): void
}

/** What the cache learns from its origin: where tokens come from, whom they are for, and who signs them. */
export interface OriginIdentity {
  /** The token endpoint clients are sent to (the origin's own challenge realm). */
  realm: string
  /** The `service` the origin issues tokens for: their `aud`. */
  service: string
  /** The tokens' `iss`: the origin's public URL origin, which is its realm's origin. */
  issuer: string
}

interface Learned extends OriginIdentity {
  jwks: { keys: JWK[] }
  fetchedAt: number
}

export interface OriginKeysOptions {
  originUrl: URL
  /** Keeps the identity and JWKS, so a restart while the origin is unreachable still verifies tokens. */
  index: KeyValueStore
  agent: Dispatcher
  now: () => number
  log: Logger
  /** Periodic refresh of the JWKS and identity. */
  refreshMs: number
  /** Least time between fetches caused by an unknown key id (a rotation, or a forged token). */
  cooldownMs: number
  timeoutMs: number
}

/** Asymmetric algorithms only: a JWKS carrying a shared secret would let anyone who reads it mint tokens. */
const ALGORITHMS = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'])
const META_KEY = 'origin'
const RETRY_MAX_MS = 30_000

/**
 * The origin's token realm, service and public keys. Learned from `GET <origin>/v2/` (its challenge) and
 * `<origin>/auth/jwks.json`, kept in the program's database so a restart while the origin is unreachable still verifies
 * tokens, refreshed periodically and at once (with a cooldown) when a token names a key id not yet known, which is
 * how a key rotation on the origin reaches the cache. Until the origin has been reached once, origin content
 * cannot be authorized and is refused; foreign content is served regardless.
 */
export class OriginKeys {
  readonly #opts: OriginKeysOptions
  #learned: Learned | undefined
  #keys = new Map<string, { key: CryptoKey; alg: string }>()
  #inflight: Promise<boolean> | undefined
  #deferred: Promise<boolean> | undefined
  #lastFetch = -Infinity
  #timer: NodeJS.Timeout | undefined
  #failures = 0
  #stopped = false

  constructor(opts: OriginKeysOptions) {
    this.#opts = opts
  }

  /** Loads what an earlier run learned, then tries the origin once; keeps refreshing in the background. */
  async start(): Promise<void> {
    const saved = this.#opts.index.getMeta<Learned>(META_KEY)
    if (saved) await this.#install(saved)
    const ok = await this.refresh()
    this.#schedule(ok)
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
  }

  identity(): OriginIdentity | undefined {
    const l = this.#learned
    return l && { realm: l.realm, service: l.service, issuer: l.issuer }
  }

  /**
   * The key for a `kid`, fetching the JWKS again when it is unknown. Fetches caused by unknown ids are at least the
   * cooldown apart: a request that arrives within it waits for the next fetch (one for all such requests) rather
   * than being refused, so a token signed just after a rotation verifies even when a forged token triggered a
   * fetch a moment before. Forged ids thus cost the origin one JWKS fetch per cooldown, whatever their number.
   */
  async key(kid: string): Promise<{ key: CryptoKey; alg: string } | undefined> {
    const known = this.#keys.get(kid)
    if (known) return known
    const wait = Math.min(this.#opts.cooldownMs, this.#lastFetch + this.#opts.cooldownMs - this.#opts.now())
    if (wait > 0) await this.#fetchAfter(wait)
    else await this.refresh()
    return this.#keys.get(kid)
  }

  /** One fetch `ms` from now, shared by every caller until it has run. */
  #fetchAfter(ms: number): Promise<boolean> {
    this.#deferred ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      timer.unref()
    })
      .then(() => (this.#stopped ? false : this.refresh()))
      .finally(() => (this.#deferred = undefined))
    return this.#deferred
  }

  /**
   * Verifies a JWT the origin signed, offline: a key its JWKS publishes (of one of `algorithms`, default any
   * asymmetric one), its issuer, the audience (the origin's token service unless given) and the lifetime, with
   * JWT_CLOCK_TOLERANCE_S of skew. Throws when any check fails: jose's errors carry a `code` saying which
   * (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ERR_JWT_CLAIM_VALIDATION_FAILED with `claim`), and
   * an unknown key or algorithm, or an origin not reached yet, is an UnverifiableToken.
   */
  async verifyJwt(token: string, opts: { now: number; audience?: string; algorithms?: string[] }): Promise<JWTPayload> {
    const identity = this.identity()
    if (!identity) throw new UnverifiableToken('the origin has not been reached yet')
    return verifyJwt(token, {
      key: async (kid, alg) => {
        const known = await this.key(kid)
        return known?.alg === alg ? known.key : undefined
      },
      algorithms: opts.algorithms ?? [...ALGORITHMS],
      issuer: identity.issuer,
      audience: opts.audience ?? identity.service,
      now: opts.now,
    })
  }

  /** Fetches identity and keys now (one fetch at a time); answers whether it worked. */
  refresh(): Promise<boolean> {
    if (!this.#inflight) {
      this.#inflight = this.#fetch().finally(() => (this.#inflight = undefined))
    }
    return this.#inflight
  }

  async #fetch(): Promise<boolean> {
    this.#lastFetch = this.#opts.now()
    const origin = this.#opts.originUrl
    try {
      const ping = await this.#get(new URL('/v2/', origin))
      const challenge = parseBearerChallenge(ping.headers['www-authenticate'])
      if (ping.status !== 401 || !challenge?.service) {
        throw new Error(
          `GET ${origin.origin}/v2/ answered ${ping.status} without a Bearer challenge naming a realm and service`,
        )
      }
      const jwksRes = await this.#get(new URL('/auth/jwks.json', origin))
      const jwks = JSON.parse(jwksRes.body) as { keys?: unknown }
      if (jwksRes.status !== 200 || !Array.isArray(jwks.keys))
        throw new Error(`GET ${origin.origin}/auth/jwks.json answered ${jwksRes.status} without keys`)
      const learned: Learned = {
        realm: challenge.realm,
        service: challenge.service,
        issuer: new URL(challenge.realm).origin,
        jwks: { keys: jwks.keys as JWK[] },
        fetchedAt: this.#opts.now(),
      }
      await this.#install(learned)
      this.#opts.index.setMeta(META_KEY, learned)
      if (this.#failures > 0) this.#opts.log.info({ origin: origin.origin }, 'reached the origin')
      this.#failures = 0
      return true
    } catch (err) {
      this.#failures++
      const level = this.#learned ? 'warn' : 'error'
      this.#opts.log[level](
        { origin: origin.origin, err, known: !!this.#learned },
        'cannot fetch the origin token service and keys',
      )
      return false
    }
  }

  async #install(l: Learned): Promise<void> {
    const keys = new Map<string, { key: CryptoKey; alg: string }>()
    for (const jwk of l.jwks.keys) {
      const alg = jwk.alg ?? (jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined)
      if (typeof jwk.kid !== 'string' || !alg || !ALGORITHMS.has(alg)) continue
      try {
        keys.set(jwk.kid, { key: (await importJWK(jwk, alg)) as CryptoKey, alg })
      } catch {
        // an unusable key verifies nothing; the others still do
      }
    }
    this.#keys = keys
    this.#learned = l
  }

  async #get(
    url: URL,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    const res = await this.#opts.agent.request({
      origin: url.origin,
      path: url.pathname,
      method: 'GET',
      headers: { 'user-agent': 'wharf-cache' },
      headersTimeout: this.#opts.timeoutMs,
      bodyTimeout: this.#opts.timeoutMs,
    })
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
  }

  #schedule(lastOk: boolean): void {
    if (this.#stopped) return
    // until the origin answers: 1 s, 2 s, 4 s … 30 s; then the periodic refresh
    const delay = lastOk
      ? this.#opts.refreshMs
      : Math.min(1000 * 2 ** Math.min(this.#failures - 1, 10), RETRY_MAX_MS, this.#opts.refreshMs)
    this.#timer = setTimeout(() => {
      void this.refresh().then((ok) => this.#schedule(ok))
    }, delay)
    this.#timer.unref()
  }
}
