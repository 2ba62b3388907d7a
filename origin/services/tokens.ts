import { randomUUID } from 'node:crypto'
import { SignJWT, type JWTPayload } from 'jose'
import { verifyJwt } from '../../lib/jwt.ts'
import { isValidName } from '../../oci/reference.ts'
import { mergeScopes, type ResourceAccess } from '../../oci/scope.ts'
import { GRANT_AUDIENCE } from './blob-grants.ts'
import type { KeyRing } from './keys.ts'
import { actorOf, ANONYMOUS_ACTOR, type Actor, type Events } from './events.ts'
import type { Permissions, Principal } from './permissions.ts'

/** The `kind` claim of the JWTs the origin signs for itself (to call the control plane): never a caller's credential. */
export const SERVICE_TOKEN_KIND = 'service'

export interface IssuedToken {
  token: string
  expiresIn: number
  issuedAt: string
  access: ResourceAccess[]
}

export interface VerifiedToken {
  subject: string
  /** Whom the token was issued to, by id (the `sub_kind` and `sub_id` claims), for attributing what it does. */
  actor: Actor
  access: ResourceAccess[]
  /** Claims beyond the standard ones, as the token carries them (e.g. `kind`). */
  claims: Record<string, unknown>
}

/**
 * Registry bearer tokens: ES256 JWTs in the shape Docker's token spec describes (iss, sub, aud, exp, nbf, iat, jti,
 * access). What a token grants is decided here, once: the scope asked for, intersected with the caller's permissions.
 */
export class TokenService {
  readonly #keys: KeyRing
  readonly #permissions: Permissions
  readonly issuer: string
  readonly service: string
  readonly ttlSeconds: number
  readonly #now: () => number
  readonly #events: Events

  constructor(deps: {
    keys: KeyRing
    permissions: Permissions
    /** Where each token issued to a caller is recorded (`token.issue`). */
    events: Events
    issuer: string
    service: string
    ttlSeconds: number
    now: () => number
  }) {
    this.#keys = deps.keys
    this.#permissions = deps.permissions
    this.#events = deps.events
    this.issuer = deps.issuer
    this.service = deps.service
    this.ttlSeconds = deps.ttlSeconds
    this.#now = deps.now
  }

  /** What of `requested` the principal holds; resources it holds nothing on are left out (a partial grant is no error). */
  grant(p: Principal, requested: ResourceAccess[]): ResourceAccess[] {
    const granted: ResourceAccess[] = []
    for (const r of mergeScopes(requested)) {
      if (r.type === 'repository' && isValidName(r.name)) {
        const allowed = this.#permissions.actions(p, r.name)
        const wanted = r.actions.includes('*') ? [...allowed] : r.actions.filter((a) => allowed.has(a as never))
        if (wanted.length > 0) granted.push({ type: 'repository', name: r.name, actions: wanted })
      } else if (r.type === 'registry' && r.name === 'catalog' && p.kind === 'user' && p.isAdmin) {
        granted.push({ type: 'registry', name: 'catalog', actions: ['*'] })
      } else if (r.type === 'controlplane' && r.name === 'admin' && p.kind === 'user' && p.isAdmin) {
        // administering the control plane (sites, join tokens, assignments, reports): system admins only
        granted.push({ type: 'controlplane', name: 'admin', actions: ['*'] })
      }
    }
    return granted
  }

  /**
   * Signs a token with what of `requested` the principal holds, and records it (`token.issue`, from `address`),
   * unless an anonymous caller got nothing.
   */
  async issue(
    p: Principal,
    requested: ResourceAccess[],
    opts: { address?: string | null; extraClaims?: Record<string, unknown> } = {},
  ): Promise<IssuedToken> {
    const extraClaims = opts.extraClaims ?? {}
    const access = this.grant(p, requested)
    const now = Math.floor(this.#now() / 1000)
    const { kid, key } = this.#keys.signing()
    const actor = actorOf(p)
    const token = await new SignJWT({
      ...extraClaims,
      access,
      sub_kind: actor.kind,
      ...(actor.id === null ? {} : { sub_id: actor.id }),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(this.issuer)
      .setSubject(p.name)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(key)
    if (p.kind !== 'anonymous' || access.length > 0) {
      this.#events.record({
        actor,
        action: 'token.issue',
        targetType: 'token',
        target: this.service,
        address: opts.address ?? null,
        detail: { requested, granted: access },
      })
    }
    return { token, expiresIn: this.ttlSeconds, issuedAt: new Date(now * 1000).toISOString(), access }
  }

  /** Verifies signature, issuer, audience and lifetime; undefined for any token that is not one of ours and valid. */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    try {
      const payload = await verifyJwt(token, {
        key: (kid) => this.#keys.publicKey(kid),
        algorithms: ['ES256'],
        issuer: this.issuer,
        audience: this.service,
        now: this.#now(),
      })
      // blob grants and the origin's own service tokens are signed with the same key but are never registry tokens
      const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
      if (audiences.includes(GRANT_AUDIENCE) || payload.kind === SERVICE_TOKEN_KIND) return undefined
      const access = Array.isArray(payload.access) ? (payload.access as ResourceAccess[]) : []
      return {
        subject: payload.sub ?? '',
        actor: actorFromClaims(payload),
        access,
        claims: payload as Record<string, unknown>,
      }
    } catch {
      return undefined
    }
  }
}

/** The actor a verified registry token names; one without the claims (or with odd ones) is attributed to no id. */
function actorFromClaims(payload: JWTPayload): Actor {
  const name = payload.sub ?? ''
  if (name === '') return ANONYMOUS_ACTOR
  const kind = payload.sub_kind
  const id = payload.sub_id
  if ((kind === 'user' || kind === 'robot') && typeof id === 'number' && Number.isSafeInteger(id))
    return { kind, id, name }
  return { kind: 'anonymous', id: null, name }
}
