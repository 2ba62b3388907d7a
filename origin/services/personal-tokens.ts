import { ApiError } from '../../lib/api-error.ts'
import type { TokenRow } from '../storage/access-store.ts'
import type { Account } from '../storage/accounts-store.ts'
import { allow, requirePassword, audit, iso, pageOf, signedIn, type AccountServiceDeps, type Page } from './common.ts'
import type { Caller } from './permissions.ts'

export interface TokenView {
  id: string
  name: string
  createdAt: string
  expiresAt: string | null
  lastUsedAt: string | null
  revokedAt: string | null
  /** Not revoked and not expired. */
  active: boolean
}

/** What the personal-tokens service works with. */
export type PersonalTokensDeps = AccountServiceDeps

/**
 * Personal access tokens: passwords for automation (`docker login -p <token>`, basic auth on the API) that act
 * with their user's permissions at the time of use. Users manage their own; admins anyone's.
 */
export class PersonalTokensService {
  readonly #d: PersonalTokensDeps

  constructor(deps: PersonalTokensDeps) {
    this.#d = deps
  }

  list(caller: Caller, user: string, last: string, limit: number): Page<TokenView> {
    const account = this.#authorize(caller, user)
    const rows = this.#d.access.tokensOf(account.id, 'personal').sort((a, b) => cmp(keyOf(a), keyOf(b)))
    const page = pageOf(rows, keyOf, last, limit)
    return { items: page.items.map((t) => this.#view(t)), next: page.next }
  }

  /** Creates a token; the returned secret is never shown again (only its hash is kept). */
  create(
    caller: Caller,
    user: string,
    input: { name: string; expiresAt?: number | null },
  ): { token: TokenView; secret: string } {
    const account = this.#authorize(caller, user)
    requirePassword(caller, 'creating an access token')
    if (!account.active) throw new ApiError('CONFLICT', `${user} is deactivated`)
    if (input.expiresAt != null && input.expiresAt <= this.#d.now())
      throw new ApiError('BAD_REQUEST', 'expiresAt must be in the future')
    const { id, token } = this.#d.auth.createPersonalToken(account.id, input.name, input.expiresAt ?? null)
    const row = this.#d.access.token(id)!
    audit(this.#d.events, caller, 'token.create', 'token', user, {
      id,
      name: input.name,
      expiresAt: iso(row.expiresAt),
    })
    return { token: this.#view(row), secret: token }
  }

  revoke(caller: Caller, user: string, id: string): void {
    const account = this.#authorize(caller, user)
    const row = this.#d.access.token(id)
    if (!row || row.userId !== account.id || row.kind !== 'personal')
      throw new ApiError('NOT_FOUND', `${user} has no token ${id.slice(0, 64)}`)
    if (!this.#d.access.revokeToken(id, this.#d.now())) throw new ApiError('CONFLICT', `token ${id} is already revoked`)
    audit(this.#d.events, caller, 'token.revoke', 'token', user, { id, name: row.name })
  }

  #authorize(caller: Caller, user: string): Account {
    const p = signedIn(caller)
    const account = this.#d.accounts.byName(user)
    if (!account || account.kind !== 'user') throw new ApiError('NOT_FOUND', `no user named "${user.slice(0, 100)}"`)
    allow(this.#d.permissions.canManageAccount(p, account.id), 'you may manage only your own tokens')
    return account
  }

  #view(t: TokenRow): TokenView {
    const now = this.#d.now()
    return {
      id: t.id,
      name: t.name,
      createdAt: iso(t.createdAt),
      expiresAt: iso(t.expiresAt),
      lastUsedAt: iso(t.lastUsedAt),
      revokedAt: iso(t.revokedAt),
      active: t.revokedAt === null && (t.expiresAt === null || t.expiresAt > now),
    }
  }
}

// creation order, made a string cursor: zero-padded milliseconds, then the id for tokens made in the same one
const keyOf = (t: TokenRow) => `${String(t.createdAt).padStart(15, '0')}.${t.id}`
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
