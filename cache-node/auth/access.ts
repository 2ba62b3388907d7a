import { LRUCache } from 'lru-cache'
import { OciError } from '../../oci/errors.ts'
import { bearerChallenge, holds, type ResourceAccess } from '../../oci/scope.ts'
import { UpstreamError } from '../errors.ts'
import type { UpstreamAuth } from '../upstream/upstream.ts'
import type { Target } from '../upstream/router.ts'
import type { IndexDb } from '../store/index-db.ts'
import { JWT_CLOCK_TOLERANCE_S, UnverifiableToken, type OriginKeys } from '../../lib/origin-keys.ts'

/** A token the origin signed, as verified here. */
export interface VerifiedToken {
  subject: string
  access: ResourceAccess[]
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number
}

export interface AccessOptions {
  keys: OriginKeys
  /** The origin's URL origin, for messages. */
  originName: string
  /** Who may pull from foreign upstreams: anyone, or callers with a valid origin token for a named account. */
  foreignPull: 'anyone' | 'authenticated'
  now: () => number
  /** Verified tokens kept in memory (their signature is not checked again until they expire). */
  maxTokens?: number
  /** This node's site id once it joined its control plane; blob grants are refused without one. */
  siteId?: () => string | undefined
}

/** The audience of the origin's blob grants: never a registry token's. */
export const GRANT_AUDIENCE = 'wharf-blob-grant'

/**
 * Who may pull what through this cache. Origin content (the default upstream) needs a token the origin signed,
 * verified offline with its JWKS, whose `access` holds `pull` on the repository, whether the content is cached or
 * not; that same token, and nothing more powerful, is what the cache forwards when it must fetch. Foreign
 * content is open to anyone, or to any named origin account (CACHE_FOREIGN_PULL). Refusals are 401s whose
 * challenge points at the origin's token realm, so `docker login <cache>` works with origin credentials.
 */
export class CacheAccess {
  readonly #opts: AccessOptions
  /** Access decisions in memory: verified tokens by their text, until they expire. */
  readonly #verified: LRUCache<string, VerifiedToken>

  constructor(opts: AccessOptions) {
    this.#opts = opts
    this.#verified = new LRUCache({ max: opts.maxTokens ?? 10_000 })
  }

  /** GET /v2/: a valid origin token, or a challenge (this is what `docker login` checks). */
  async ping(req: Request): Promise<void> {
    this.#identity()
    const token = bearer(req)
    if (!token) throw this.challenge('authentication required')
    if (!(await this.verify(token))) throw this.challenge('invalid or expired token', undefined, 'invalid_token')
  }

  /** Decides a pull of `target` and answers how the cache may authenticate upstream for it. */
  async pull(req: Request, target: Target): Promise<UpstreamAuth> {
    const scope = `repository:${target.clientName}:pull`
    if (target.upstream.kind === 'foreign') {
      if (this.#opts.foreignPull === 'anyone') return { kind: 'anonymous' }
      this.#identity()
      const token = bearer(req)
      const v = token ? await this.verify(token) : undefined
      if (!v || v.subject === '')
        throw this.challenge(
          `pulling from ${target.upstream.name} through this cache needs a login`,
          scope,
          token ? 'invalid_token' : undefined,
        )
      return { kind: 'anonymous' }
    }
    this.#identity()
    const token = bearer(req)
    if (!token) throw this.challenge('authentication required', scope)
    const v = await this.verify(token)
    if (!v) throw this.challenge('invalid or expired token', scope, 'invalid_token')
    if (!holds(v.access, 'repository', target.clientName, 'pull')) {
      throw this.challenge(
        `access to repository ${target.clientName} (pull) was not granted`,
        scope,
        'insufficient_scope',
      )
    }
    return { kind: 'forward', authorization: `Bearer ${token}` }
  }

  /**
   * Decides a blob request carrying `?grant=` (a redirect from the origin): the grant must be signed by the origin
   * (its JWKS, ES256), for `aud` wharf-blob-grant, unexpired (5 s tolerance), and name exactly this repository,
   * this digest and this site among its `sites`. 401 UNAUTHORIZED for a bad, tampered or expired grant; 403 DENIED
   * for one made for another blob or site, or a name this cache fills from a foreign registry. The grant becomes the
   * only credential of any fill (no Authorization header needed or used).
   */
  async grant(grant: string, target: Target, digest: string): Promise<UpstreamAuth> {
    // an origin not reached yet is a 503 (as for tokens), not a refusal of the grant
    this.#identity()
    const again = 'pull again from the origin to be sent here with a new one'
    const invalid = (why: string) =>
      new OciError('UNAUTHORIZED', `the blob grant is invalid or expired (${why}); ${again}`)
    let payload: Record<string, unknown>
    try {
      payload = await this.#opts.keys.verifyJwt(grant, { now: this.#opts.now(), audience: GRANT_AUDIENCE, algorithms: ['ES256'] })
    } catch (err) {
      if (err instanceof UnverifiableToken) throw invalid(err.message)
      const code = (err as { code?: string }).code
      const claim = (err as { claim?: string }).claim
      throw invalid(
        code === 'ERR_JWT_EXPIRED'
          ? 'it expired'
          : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
            ? 'its signature does not verify'
            : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
              ? `its "${claim ?? '?'}" claim is wrong`
              : 'not a token the origin signed',
      )
    }
    const denied = (why: string) => new OciError('DENIED', `the blob grant ${why}; ${again}`)
    if (payload.repository !== target.clientName) throw denied(`is not for repository ${target.clientName}`)
    if (payload.digest !== digest) throw denied(`is not for blob ${digest}`)
    const siteId = this.#opts.siteId?.()
    if (!siteId)
      throw new OciError(
        'DENIED',
        'this cache has not joined its control plane yet, so it cannot take blob grants; pull from the origin',
      )
    if (!Array.isArray(payload.sites) || !payload.sites.includes(siteId)) throw denied('is for another cache site')
    if (target.upstream.kind !== 'wharf')
      throw new OciError(
        'DENIED',
        `blob grants are only for origin content; ${target.clientName} comes from ${target.upstream.name}`,
      )
    return { kind: 'grant', grant }
  }

  /** Verifies a token's signature (origin JWKS), issuer, audience and lifetime; undefined when it fails any. */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    const now = this.#opts.now()
    const cached = this.#verified.get(token)
    if (cached) return cached.expiresAt + JWT_CLOCK_TOLERANCE_S * 1000 > now ? cached : undefined
    try {
      const payload = await this.#opts.keys.verifyJwt(token, { now })
      const v: VerifiedToken = {
        subject: payload.sub ?? '',
        access: Array.isArray(payload.access) ? (payload.access as ResourceAccess[]) : [],
        expiresAt: (payload.exp as number) * 1000,
      }
      this.#verified.set(token, v)
      return v
    } catch {
      return undefined
    }
  }

  /** A 401 whose challenge sends the client to the origin's token realm. */
  challenge(message: string, scope?: string, error?: 'invalid_token' | 'insufficient_scope'): OciError {
    const { realm, service } = this.#identity()
    return new OciError('UNAUTHORIZED', message, {
      headers: { 'WWW-Authenticate': bearerChallenge({ realm, service, scope, error }) },
      detail: scope ? [{ Type: 'repository', Name: scope.split(':').slice(1, -1).join(':'), Action: 'pull' }] : null,
    })
  }

  #identity() {
    const identity = this.#opts.keys.identity()
    if (!identity) {
      throw new UpstreamError(
        'UPSTREAM_UNAVAILABLE',
        this.#opts.originName,
        'this cache has not reached its origin yet to learn its token service, so it cannot authorize origin content; retrying in the background',
      )
    }
    return identity
  }
}

/**
 * Whether the upstream of `t` may be taken at its word (a HEAD, a manifest's list) about the cached bytes of
 * `digest`: a wharf upstream (the origin, or a parent cache under the origin's access decisions) always; a foreign
 * one only when it served those bytes itself (a source in the index).
 */
export function vouches(index: IndexDb, t: Target, digest: string): boolean {
  return t.upstream.kind === 'wharf' || index.hasSource(digest, t.upstream.key)
}

function bearer(req: Request): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
}
