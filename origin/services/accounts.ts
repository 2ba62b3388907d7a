import { randomBytes } from 'node:crypto'
import { ApiError } from '../../lib/api-error.ts'
import type { AccessStore } from '../storage/access-store.ts'
import type { Account, AccountKind, AccountsStore } from '../storage/accounts-store.ts'
import type { Metadata } from '../storage/metadata.ts'
import type { AuthService } from './auth.ts'
import {
  allow,
  requirePassword,
  assertComponent,
  assertNotReserved,
  audit,
  iso,
  pageOfRows,
  signedIn,
  type Page,
} from './common.ts'
import type { Events } from './events.ts'
import { hashPassword, verifyPassword } from './passwords.ts'
import type { Caller, Permissions } from './permissions.ts'

/** Shortest password accepted for a local user (the first admin's has the same floor). */
export const MIN_PASSWORD_LENGTH = 8
/** Longest password accepted: scrypt takes any length, but nobody types more. */
export const MAX_PASSWORD_LENGTH = 1024

export interface AccountView {
  name: string
  kind: AccountKind
  fullName: string
  /** Shown to the account itself and to admins only. */
  email?: string
  source: 'local' | 'ldap'
  isAdmin: boolean
  active: boolean
  createdAt: string
  updatedAt: string
}

export type MeView =
  | (AccountView & { kind: 'user'; orgs: { name: string; isOwner: boolean }[]; teams: { org: string; name: string }[] })
  | { kind: 'robot'; name: string; namespace: string; permissions: { repository: string; actions: string[] }[] }

export interface NewAccount {
  name: string
  kind: AccountKind
  fullName?: string
  email?: string
  /** A user's password; generated (and returned once) when absent. Organizations have none. */
  password?: string
  isAdmin?: boolean
}

export interface AccountPatch {
  fullName?: string
  email?: string
  password?: string
  /** Required when users change their own password. */
  currentPassword?: string
  isAdmin?: boolean
  active?: boolean
}

export interface AccountsDeps {
  accounts: AccountsStore
  access: AccessStore
  auth: AuthService
  permissions: Permissions
  events: Events
  meta: Metadata
  now: () => number
}

/** Users and organizations: creating, changing and deleting them, with the rules that keep the registry administrable. */
export class AccountsService {
  readonly #d: AccountsDeps

  constructor(deps: AccountsDeps) {
    this.#d = deps
  }

  list(caller: Caller, kind: AccountKind | undefined, last: string, limit: number): Page<AccountView> {
    signedIn(caller)
    const page = pageOfRows(this.#d.accounts.page(kind, last, limit + 1), (a) => a.name, limit)
    return { items: page.items.map((a) => this.view(caller, a)), next: page.next }
  }

  get(caller: Caller, name: string): AccountView {
    signedIn(caller)
    return this.view(caller, this.require(name))
  }

  /** Creates a user or an organization (admins only). A generated password is returned here, once. */
  async create(caller: Caller, input: NewAccount): Promise<{ account: AccountView; password?: string }> {
    const p = signedIn(caller)
    allow(this.#d.permissions.isAdmin(p), 'only system administrators create accounts')
    requirePassword(caller, 'creating an account')
    const name = assertNotReserved(assertComponent(input.name, 'account name'))
    if (input.email !== undefined) checkEmail(input.email)
    if (input.kind === 'org' && (input.password !== undefined || input.isAdmin)) {
      throw new ApiError(
        'BAD_REQUEST',
        'organizations have no password and cannot be admins; add owners as members instead',
      )
    }
    if (this.#d.accounts.byName(name))
      throw new ApiError('CONFLICT', `the name "${name}" is taken by another user or organization`)
    let password: string | undefined
    if (input.kind === 'user') {
      password = input.password ?? randomBytes(18).toString('base64url')
      checkPassword(password)
    }
    let account: Account
    try {
      account = this.#d.accounts.insert({
        name,
        kind: input.kind,
        fullName: input.fullName ?? '',
        email: input.email ?? '',
        passwordHash: password === undefined ? null : await hashPassword(password),
        isAdmin: input.isAdmin ?? false,
        now: this.#d.now(),
      })
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new ApiError('CONFLICT', `the name "${name}" is taken`)
      throw err
    }
    audit(this.#d.events, caller, 'account.create', 'account', name, {
      kind: input.kind,
      isAdmin: account.isAdmin,
      ...(input.kind === 'user' ? { passwordGenerated: input.password === undefined } : {}),
    })
    return { account: this.view(caller, account), ...(input.password === undefined && password ? { password } : {}) }
  }

  async update(caller: Caller, name: string, patch: AccountPatch): Promise<AccountView> {
    const p = signedIn(caller)
    const account = this.require(name)
    const perms = this.#d.permissions
    const changed = Object.keys(patch).filter(
      (k) => k !== 'currentPassword' && patch[k as keyof AccountPatch] !== undefined,
    )
    if (account.kind === 'org') {
      allow(perms.ownsNamespace(p, name), `only owners of ${name} and admins may change it`)
      if (patch.password !== undefined || patch.isAdmin !== undefined || patch.active !== undefined) {
        throw new ApiError('BAD_REQUEST', 'an organization has only fullName and email to change')
      }
    } else {
      allow(perms.canManageAccount(p, account.id), 'you may change only your own account')
      if (patch.isAdmin !== undefined || patch.active !== undefined) {
        allow(perms.isAdmin(p), 'only system administrators change isAdmin and active')
      }
    }
    if (patch.email !== undefined) checkEmail(patch.email)
    // making an admin, or setting someone else's password, mints a credential (one's own password change is
    // proved by currentPassword in the body instead)
    if (patch.isAdmin === true && !account.isAdmin) requirePassword(caller, 'making an administrator')
    if (patch.password !== undefined && p.id !== account.id)
      requirePassword(caller, "setting another account's password")
    const removesAdmin = account.isAdmin && account.active && (patch.isAdmin === false || patch.active === false)
    if (removesAdmin && this.#d.accounts.activeAdminCount() <= 1) {
      throw new ApiError('CONFLICT', `${name} is the last active administrator; make another user admin first`)
    }
    if (patch.password !== undefined) await this.#changePassword(p.id, account, patch.password, patch.currentPassword)
    const updated: Account = {
      ...account,
      fullName: patch.fullName ?? account.fullName,
      email: patch.email ?? account.email,
      isAdmin: patch.isAdmin ?? account.isAdmin,
      active: patch.active ?? account.active,
    }
    this.#d.accounts.update(updated, this.#d.now())
    if (account.active && !updated.active) {
      // a deactivated user must lose every way in at once, not when a cached check or a token expires
      this.#d.access.revokeAllOf(account.id, this.#d.now())
    }
    if (patch.active !== undefined || patch.isAdmin !== undefined) this.#d.auth.forgetCredentials()
    const detail: Record<string, unknown> = { changed }
    if (patch.active !== undefined) detail.active = updated.active
    if (patch.isAdmin !== undefined) detail.isAdmin = updated.isAdmin
    audit(this.#d.events, caller, 'account.update', 'account', name, detail)
    return this.view(caller, this.require(name))
  }

  /** Deletes an account (admins only) with its tokens, memberships, grants, teams and robots; never the last admin. */
  delete(caller: Caller, name: string): void {
    const p = signedIn(caller)
    allow(this.#d.permissions.isAdmin(p), 'only system administrators delete accounts')
    const account = this.require(name)
    if (account.isAdmin && account.active && this.#d.accounts.activeAdminCount() <= 1) {
      throw new ApiError('CONFLICT', `${name} is the last active administrator and cannot be deleted`)
    }
    if (this.#d.meta.repositoryRows('', 1, name).length > 0) {
      throw new ApiError('CONFLICT', `the namespace ${name} still has repositories; delete them first`)
    }
    const { accounts, access } = this.#d
    accounts.db.transaction(() => {
      if (account.kind === 'org') for (const t of accounts.teams(account.id)) access.deleteGrantsOf('team', t.id)
      else access.deleteGrantsOf('user', account.id)
      access.deleteGrantsOn('namespace', name)
      access.deleteRobotsIn(name)
      // tokens, sessions, memberships and teams go with the row (foreign keys cascade)
      accounts.delete(account.id)
    })()
    this.#d.auth.forgetCredentials()
    audit(this.#d.events, caller, 'account.delete', 'account', name, { kind: account.kind })
  }

  /** The caller as the web UI shows them: their account, organizations and teams; or the robot and its permissions. */
  me(caller: Caller): MeView {
    const p = caller.principal
    if (p.kind === 'robot') return { kind: 'robot', name: p.name, namespace: p.namespace, permissions: p.permissions }
    const user = signedIn(caller)
    const account = this.require(user.name)
    return {
      ...this.view(caller, account),
      kind: 'user',
      orgs: this.#d.accounts.orgsOf(account.id),
      teams: this.#d.accounts.teamsOf(account.id).map((t) => ({ org: t.org, name: t.name })),
    }
  }

  /** The account, or NOT_FOUND. */
  require(name: string, kind?: AccountKind): Account {
    const a = this.#d.accounts.byName(name)
    if (!a || (kind && a.kind !== kind))
      throw new ApiError(
        'NOT_FOUND',
        `no ${kind === 'org' ? 'organization' : (kind ?? 'account')} named "${name.slice(0, 100)}"`,
      )
    return a
  }

  view(caller: Caller, a: Account): AccountView {
    const own =
      a.kind === 'user'
        ? this.#d.permissions.canManageAccount(caller.principal, a.id)
        : this.#d.permissions.ownsNamespace(caller.principal, a.name)
    return {
      name: a.name,
      kind: a.kind,
      fullName: a.fullName,
      ...(own ? { email: a.email } : {}),
      source: a.source,
      isAdmin: a.isAdmin,
      active: a.active,
      createdAt: iso(a.createdAt),
      updatedAt: iso(a.updatedAt),
    }
  }

  async #changePassword(
    callerId: number,
    account: Account,
    password: string,
    current: string | undefined,
  ): Promise<void> {
    if (account.source !== 'local')
      throw new ApiError(
        'BAD_REQUEST',
        `${account.name} signs in through the directory (LDAP); change the password there`,
      )
    checkPassword(password)
    if (callerId === account.id) {
      if (current === undefined) throw new ApiError('BAD_REQUEST', 'give currentPassword to change your own password')
      if (!account.passwordHash || !(await verifyPassword(current, account.passwordHash))) {
        throw new ApiError('FORBIDDEN', 'currentPassword is wrong')
      }
    }
    await this.#d.auth.setPassword(account, password)
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new ApiError('BAD_REQUEST', `a password has ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`)
  }
}

function checkEmail(email: string): void {
  if (email !== '' && !/^[^\s@]+@[^\s@]+$/.test(email))
    throw new ApiError('BAD_REQUEST', `"${email.slice(0, 100)}" is not an email address`)
}
