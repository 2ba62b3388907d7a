import { decodeProtectedHeader, jwtVerify } from 'jose'
import type { OriginKeys } from '../../lib/origin-keys.ts'

/** Seconds of clock skew tolerated on `exp` and `nbf`, as the origin and caches allow. */
const CLOCK_TOLERANCE_S = 5

export interface ResourceAccess {
  type: string
  name: string
  actions: string[]
}

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
    const identity = this.#keys.identity()
    if (!identity) return undefined
    try {
      const { kid } = decodeProtectedHeader(token)
      if (typeof kid !== 'string') return undefined
      const key = await this.#keys.key(kid)
      if (!key) return undefined
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: identity.issuer,
        audience: identity.service,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.#now()),
        requiredClaims: ['exp'],
      })
      const access = Array.isArray(payload.access) ? (payload.access as ResourceAccess[]) : []
      return { subject: payload.sub ?? '', access }
    } catch {
      return undefined
    }
  }
}

/** Whether `access` holds the control plane role `name` (`admin` or `origin`) with every action. */
export function holdsRole(access: ResourceAccess[], name: 'admin' | 'origin'): boolean {
  return access.some(
    (a) => a?.type === 'controlplane' && a.name === name && Array.isArray(a.actions) && a.actions.includes('*'),
  )
}
