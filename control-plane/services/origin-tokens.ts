import type { OriginKeys } from '../../lib/origin-keys.ts'
import type { ResourceAccess } from '../../oci/scope.ts'

/** What a verified origin token says. */
export interface OriginToken {
  subject: string
  access: ResourceAccess[]
}

/** Verifies JWTs the origin signed, offline with its JWKS: signature, `iss`, `aud` (its token service), `exp`. */
export class OriginTokens {
  readonly #keys: OriginKeys
  readonly #now: () => number

  constructor(keys: OriginKeys, now: () => number) {
    this.#keys = keys
    this.#now = now
  }

  /** Whether the origin has been reached once (its realm, service and keys are known). */
  get ready(): boolean {
    return this.#keys.identity() !== undefined
  }

  /** The verified token, or undefined for any token that is not the origin's and valid. */
  async verify(token: string): Promise<OriginToken | undefined> {
    const v = await this.check(token)
    return v.ok ? v.token : undefined
  }

  /** The verified token, or why it is refused: `expired`, or `invalid` (not a JWT, not the origin's, wrong audience). */
  async check(token: string): Promise<{ ok: true; token: OriginToken } | { ok: false; reason: 'expired' | 'invalid' }> {
    try {
      const payload = await this.#keys.verifyJwt(token, { now: this.#now() })
      const access = Array.isArray(payload.access) ? (payload.access as ResourceAccess[]) : []
      return { ok: true, token: { subject: payload.sub ?? '', access } }
    } catch (err) {
      return { ok: false, reason: (err as { code?: unknown }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid' }
    }
  }
}

/** Whether `access` holds the control plane role `name` (`admin` or `origin`) with every action. */
export function holdsRole(access: ResourceAccess[], name: 'admin' | 'origin'): boolean {
  return access.some(
    (a) => a?.type === 'controlplane' && a.name === name && Array.isArray(a.actions) && a.actions.includes('*'),
  )
}
