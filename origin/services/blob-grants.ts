import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { verifyJwt } from '../../lib/jwt.ts'
import type { KeyRing } from './keys.ts'

/** The audience of blob grants: never a registry token's (`service`), so one can never pass for the other. */
export const GRANT_AUDIENCE = 'wharf-blob-grant'

export interface BlobGrantClaims {
  iss: string
  aud: string
  /** The user the grant was made for; '' for an anonymous pull. */
  sub: string
  repository: string
  digest: string
  /** The site ids that may serve the blob: the assigned site and its parents. */
  sites: string[]
  iat: number
  nbf: number
  exp: number
  jti: string
}

export type GrantCheck =
  | { ok: true; claims: BlobGrantClaims }
  /** `invalid`: bad signature, issuer, audience, lifetime or shape (401); `mismatch`: another blob's grant (403). */
  | { ok: false; reason: 'invalid' | 'mismatch'; message: string }

/**
 * Blob grants (docs/network-protocol.md): short-lived ES256 JWTs signed with the registry's token key that let a
 * client redirected to a cache, and that cache's fills, read exactly one blob of one repository.
 */
export class BlobGrants {
  readonly #keys: KeyRing
  readonly #issuer: string
  readonly #ttlSeconds: number
  readonly #now: () => number

  constructor(deps: { keys: KeyRing; issuer: string; ttlSeconds: number; now: () => number }) {
    this.#keys = deps.keys
    this.#issuer = deps.issuer
    this.#ttlSeconds = deps.ttlSeconds
    this.#now = deps.now
  }

  async mint(g: { subject: string; repository: string; digest: string; sites: string[] }): Promise<string> {
    const now = Math.floor(this.#now() / 1000)
    const { kid, key } = this.#keys.signing()
    return new SignJWT({ repository: g.repository, digest: g.digest, sites: [...g.sites] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(this.#issuer)
      .setAudience(GRANT_AUDIENCE)
      .setSubject(g.subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.#ttlSeconds)
      .setJti(randomUUID())
      .sign(key)
  }

  /**
   * Checks a grant presented for `repository`'s blob `digest` at the origin: signature (a key of ours), issuer,
   * audience, lifetime (5 s tolerance), and the blob. The origin is at the end of every chain, so `sites` is not
   * checked here.
   */
  async verify(token: string, blob: { repository: string; digest: string }): Promise<GrantCheck> {
    let claims: BlobGrantClaims
    try {
      const payload = await verifyJwt(token, {
        key: (kid) => this.#keys.publicKey(kid),
        algorithms: ['ES256'],
        issuer: this.#issuer,
        audience: GRANT_AUDIENCE,
        now: this.#now(),
        requiredClaims: ['exp', 'iat'],
      })
      const { repository, digest, sites } = payload as Record<string, unknown>
      if (typeof repository !== 'string' || typeof digest !== 'string') return invalid()
      if (!Array.isArray(sites) || !sites.every((s) => typeof s === 'string')) return invalid()
      claims = payload as unknown as BlobGrantClaims
    } catch {
      return invalid()
    }
    if (claims.repository !== blob.repository || claims.digest !== blob.digest) {
      return { ok: false, reason: 'mismatch', message: 'the blob grant is for another repository or blob' }
    }
    return { ok: true, claims }
  }
}

function invalid(): GrantCheck {
  return { ok: false, reason: 'invalid', message: 'invalid or expired blob grant' }
}
