import { isValidName } from '../../oci/reference.ts'
import { ApiError } from '../../lib/api-error.ts'
import { actorOf, type Events } from './events.ts'
import { isReservedName } from './reserved-names.ts'
import type { Caller, Permissions, UserPrincipal } from './permissions.ts'
import type { AccessStore } from '../storage/access-store.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import type { AuthService } from './auth.ts'

/** Account, team and robot names: one repository-name component, so a namespace is always a valid path start. */
export const MAX_ACCOUNT_NAME = 100

/** The calling user: 401 for an anonymous caller, 403 for a robot (robots only pull and push through /v2/). */
export function signedIn(caller: Caller): UserPrincipal {
  const p = caller.principal
  if (p.kind === 'anonymous')
    throw new ApiError('UNAUTHORIZED', 'sign in first (basic auth, a personal access token or a session cookie)')
  if (p.kind === 'robot') throw new ApiError('FORBIDDEN', 'robot accounts may only pull and push through /v2/')
  return p
}

/**
 * Minting a credential (a token, a robot, an account, a password, an admin flag, a signing key) needs the caller's
 * password in this very request, or a web session. A personal access token cannot mint its own successors, and no
 * registry token gets this far at all (the API does not take them), so a leaked token is never worth a lasting login.
 */
export function requirePassword(caller: Caller, what: string): void {
  if (caller.via === 'password' || caller.via === 'session') return
  throw new ApiError(
    'PASSWORD_REQUIRED',
    `${what} needs your password: call with basic auth and your password (not a personal access token), or sign in to a web session`,
    { detail: { via: caller.via } },
  )
}

/** Throws FORBIDDEN with `message` unless `ok`. */
export function allow(ok: boolean, message: string): void {
  if (!ok) throw new ApiError('FORBIDDEN', message)
}

/** Throws BAD_REQUEST for a name Wharf keeps for itself. */
export function assertNotReserved(name: string): string {
  if (isReservedName(name)) {
    throw new ApiError('BAD_REQUEST', `"${name}" is a name Wharf keeps for itself; choose another`)
  }
  return name
}

/** Throws BAD_REQUEST unless `name` is one name component (`[a-z0-9]+` joined by `.`, `_`, `__` or dashes). */
export function assertComponent(name: string, what: string): string {
  if (name.length > MAX_ACCOUNT_NAME || name.includes('/') || !isValidName(name)) {
    throw new ApiError(
      'BAD_REQUEST',
      `invalid ${what} "${name.slice(0, 100)}": use lowercase letters and digits, separated by ".", "_", "__" or "-" (at most ${MAX_ACCOUNT_NAME} characters)`,
    )
  }
  return name
}

/** Records an event done by `caller`. `detail` must never hold a secret. */
export function audit(
  events: Events,
  caller: Caller,
  action: string,
  targetType: string,
  target: string,
  detail?: Record<string, unknown>,
): void {
  events.record({
    actor: actorOf(caller.principal),
    address: caller.address,
    action,
    targetType,
    target,
    detail: detail ?? null,
  })
}

export function iso(ms: number): string
export function iso(ms: number | null): string | null
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/** One page of a list and the cursor of the next (`null` on the last page). Pass `next` back as `?last=`. */
export interface Page<T> {
  items: T[]
  next: string | null
}

/** Pages a list sorted ascending by `key`: the items after `last`, at most `limit`. */
export function pageOf<T>(sorted: readonly T[], key: (item: T) => string, last: string, limit: number): Page<T> {
  const after = last === '' ? sorted : sorted.filter((item) => key(item) > last)
  const items = after.slice(0, limit)
  return { items, next: after.length > limit ? key(items.at(-1)!) : null }
}

/** Splits the `limit + 1` rows a store returned into a page and its cursor. */
export function pageOfRows<T>(rows: T[], key: (item: T) => string, limit: number): Page<T> {
  const items = rows.slice(0, limit)
  return { items, next: rows.length > limit ? key(items.at(-1)!) : null }
}

/** The stores and services that the account-side services (organizations, tokens, robots) share. */
export interface AccountServiceDeps {
  accounts: AccountsStore
  access: AccessStore
  auth: AuthService
  permissions: Permissions
  events: Events
  now: () => number
}
