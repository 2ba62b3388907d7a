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
    try {
      const payload = await this.#keys.verifyJwt(token, { now: this.#now() })
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
