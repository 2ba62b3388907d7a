import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { AccessStore } from '../storage/access-store.ts'
import type { Account, AccountsStore } from '../storage/accounts-store.ts'
import { actorOf, systemActor, type Events } from './events.ts'
import type { LoginLimiter } from './login-limiter.ts'
import { hashPassword, hashSecret, newSecret, secretMatches, verifyPassword } from './passwords.ts'
import { ANONYMOUS, type Principal } from './permissions.ts'

/** A user as a directory (LDAP, Active Directory) describes them. */
export interface DirectoryUser {
  dn: string
  username: string
  fullName: string
  email: string
}

/** A directory that can check a user's password by binding as them. */
export interface Directory {
  enabled(): boolean
  /** The user's entry when the password is right; undefined for a wrong password or an unknown user. */
  authenticate(username: string, password: string): Promise<DirectoryUser | undefined>
  /** Called after a directory user logged in and their account exists: a chance to sync their teams and admin flag. */
  afterLogin?(account: Account): Promise<void>
}

export type LoginFailure = 'invalid_credentials' | 'rate_limited'

export class LoginError extends Error {
  readonly reason: LoginFailure
  readonly retryAfter: number
  constructor(reason: LoginFailure, message: string, retryAfter = 0) {
    super(message)
    this.name = 'LoginError'
    this.reason = reason
    this.retryAfter = retryAfter
  }
}

export const PAT_PREFIX = 'wharf_pat_'
export const REFRESH_PREFIX = 'wharf_rt_'
export const ROBOT_PREFIX = 'robot$'

/** How long a successful password check is remembered, so a burst of token requests costs one scrypt. */
const CREDENTIAL_CACHE_MS = 60_000

export interface AuthDeps {
  accounts: AccountsStore
  access: AccessStore
  events: Events
  limiter: LoginLimiter
  directory?: Directory
  now: () => number
  log: Logger
  refreshTtlMs: number
  sessionTtlMs: number
}

/**
 * Checks credentials and manages what stands in for a password: personal access tokens, robot secrets, OAuth2
 * refresh tokens and web sessions. Every secret is stored only as a hash.
 */
export class AuthService {
  readonly #d: AuthDeps
  // keyed by a hash of name, password and a per-process pepper: the cache never holds a password
  readonly #verified = new LRUCache<string, number>({ max: 10_000, ttl: CREDENTIAL_CACHE_MS })
  readonly #pepper = randomBytes(32)
  // checks running now, keyed like #verified (plus the address)
  readonly #inFlight = new Map<string, Promise<Principal | undefined>>()
  #dummyHash: Promise<string> | undefined

  constructor(deps: AuthDeps) {
    this.#d = deps
  }

  set directory(d: Directory | undefined) {
    this.#d.directory = d
  }

  /** Forget remembered password checks (after any password, status or membership change). */
  forgetCredentials(): void {
    this.#verified.clear()
  }

  /**
   * Checks a name and password (or a personal access token, or a robot secret) from `address`.
   * Throws LoginError; records the outcome as an event either way.
   */
  async login(username: string, password: string, address: string): Promise<Principal> {
    const principal = await this.#limitedCheck(username, password, address)
    if (!principal) {
      this.#record(username, 'failure', address, { reason: 'invalid_credentials' })
      throw new LoginError('invalid_credentials', 'invalid username or password')
    }
    this.#record(principal, 'success', address, { method: credentialKind(username, password) })
    return principal
  }

  /**
   * Reserves an attempt with the limiter before the (slow) check and settles it after, so parallel guesses count
   * as they start. The same name and password checked again from the same address while a check is running share
   * that check and its one attempt: a burst of identical logins (a CI fleet's `docker pull`) costs one.
   */
  async #limitedCheck(username: string, password: string, address: string): Promise<Principal | undefined> {
    const limiter = this.#d.limiter
    const key = createHash('sha256')
      .update(this.#pepper)
      .update(address)
      .update('\0')
      .update(username)
      .update('\0')
      .update(password)
      .digest('base64')
    const running = this.#inFlight.get(key)
    if (running) return running
    const reservation = limiter.reserve(username, address)
    if (!reservation.ok) {
      this.#record(username, 'failure', address, { reason: 'rate_limited' })
      throw new LoginError(
        'rate_limited',
        `too many failed logins; try again in ${reservation.retryAfter} s`,
        reservation.retryAfter,
      )
    }
    const { attempt } = reservation
    const settled = async () => {
      try {
        const principal = password === '' ? undefined : await this.#check(username, password)
        if (principal) attempt.succeeded()
        else attempt.failed()
        return principal
      } catch (err) {
        attempt.abandoned()
        throw err
      }
    }
    // .finally runs after this turn, so the entry is always in the map before it is removed
    const check = settled().finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, check)
    return check
  }

  principalOf(account: Account): Principal {
    return { kind: 'user', name: account.name, id: account.id, isAdmin: account.isAdmin }
  }

  async #check(username: string, password: string): Promise<Principal | undefined> {
    if (username.startsWith(ROBOT_PREFIX)) return this.#checkRobot(username, password)
    if (password.startsWith(PAT_PREFIX)) {
      const account = this.#d.accounts.byName(username)
      const row = this.#redeem(password, PAT_PREFIX, 'personal')
      return account && row && row.userId === account.id && usable(account) ? this.principalOf(account) : undefined
    }
    const cacheKey = createHash('sha256')
      .update(this.#pepper)
      .update(username)
      .update('\0')
      .update(password)
      .digest('base64')
    const cachedId = this.#verified.get(cacheKey)
    if (cachedId !== undefined) {
      const account = this.#d.accounts.byId(cachedId)
      if (account && usable(account)) return this.principalOf(account)
    }
    let account = this.#d.accounts.byName(username)
    const directory = this.#d.directory
    if (directory?.enabled() && (!account || account.source === 'ldap')) {
      const entry = await directory.authenticate(username, password)
      if (!entry) return undefined
      account = this.#upsertDirectoryUser(entry, account)
      if (!usable(account)) return undefined
      await directory.afterLogin?.(account)
      // afterLogin may have changed the admin flag from the directory's admin group
      account = this.#d.accounts.byId(account.id) ?? account
    } else {
      // hash even for an unknown name, so response time does not tell which names exist
      const ok = await verifyPassword(password, account?.passwordHash ?? (await this.#dummy()))
      if (!ok || !account || !usable(account) || account.source !== 'local') return undefined
    }
    this.#verified.set(cacheKey, account.id)
    return this.principalOf(account)
  }

  #checkRobot(name: string, secret: string): Principal | undefined {
    const robot = this.#d.access.robot(name)
    if (!robot || robot.disabled || (robot.expiresAt !== null && robot.expiresAt <= this.#d.now())) return undefined
    if (!secretMatches(secret, robot.secretHash)) return undefined
    this.#d.access.robotUsed(robot.id, this.#d.now())
    return { kind: 'robot', name: robot.name, id: robot.id, namespace: robot.namespace, permissions: robot.permissions }
  }

  #upsertDirectoryUser(entry: DirectoryUser, existing: Account | undefined): Account {
    const now = this.#d.now()
    const account = existing ?? this.#d.accounts.byLdapDn(entry.dn)
    if (!account) {
      const created = this.#d.accounts.insert({
        name: entry.username,
        kind: 'user',
        fullName: entry.fullName,
        email: entry.email,
        source: 'ldap',
        ldapDn: entry.dn,
        now,
      })
      this.#d.events.record({
        actor: systemActor('ldap'),
        action: 'account.create',
        targetType: 'account',
        target: created.name,
        detail: { source: 'ldap' },
      })
      return created
    }
    const updated = { ...account, fullName: entry.fullName, email: entry.email, ldapDn: entry.dn }
    this.#d.accounts.update(updated, now)
    return updated
  }

  /** Creates a personal access token; the secret is shown once and only its hash is kept. */
  createPersonalToken(userId: number, name: string, expiresAt: number | null): { id: string; token: string } {
    const id = randomUUID().replaceAll('-', '')
    const secret = newSecret()
    const token = `${PAT_PREFIX}${id}_${secret}`
    this.#d.access.insertToken({
      id,
      userId,
      name,
      secretHash: hashSecret(token),
      kind: 'personal',
      createdAt: this.#d.now(),
      expiresAt,
    })
    return { id, token }
  }

  /** An OAuth2 refresh token (docker keeps it as its identity token after `docker login`). */
  createRefreshToken(userId: number, clientId: string): string {
    const id = randomUUID().replaceAll('-', '')
    const token = `${REFRESH_PREFIX}${id}_${newSecret()}`
    const now = this.#d.now()
    this.#d.access.insertToken({
      id,
      userId,
      name: `refresh:${clientId}`.slice(0, 100),
      secretHash: hashSecret(token),
      kind: 'refresh',
      createdAt: now,
      expiresAt: now + this.#d.refreshTtlMs,
    })
    return token
  }

  /** The user behind a refresh token, if it is valid, unrevoked and unexpired and the user active. */
  redeemRefreshToken(token: string): Principal | undefined {
    const row = this.#redeem(token, REFRESH_PREFIX, 'refresh')
    const account = row && this.#d.accounts.byId(row.userId)
    return account && usable(account) ? this.principalOf(account) : undefined
  }

  /** The user behind a personal access token presented on its own (as a bearer token). */
  redeemPersonalToken(token: string): Principal | undefined {
    const row = this.#redeem(token, PAT_PREFIX, 'personal')
    const account = row && this.#d.accounts.byId(row.userId)
    return account && usable(account) ? this.principalOf(account) : undefined
  }

  /** Creates a robot account `robot$<namespace>+<name>`; returns its secret, shown once. */
  createRobot(r: {
    namespace: string
    name: string
    description: string
    permissions: { repository: string; actions: string[] }[]
    createdBy: string
    expiresAt: number | null
  }): { name: string; secret: string } {
    const name = `${ROBOT_PREFIX}${r.namespace}+${r.name}`
    const secret = newSecret()
    this.#d.access.insertRobot({
      name,
      namespace: r.namespace,
      description: r.description,
      secretHash: hashSecret(secret),
      createdAt: this.#d.now(),
      createdBy: r.createdBy,
      expiresAt: r.expiresAt,
      permissions: r.permissions,
    })
    return { name, secret }
  }

  /** Starts a web session; returns the cookie value (only its hash is stored). */
  createSession(userId: number): string {
    const id = newSecret()
    const now = this.#d.now()
    this.#d.access.insertSession(hashSecret(id), userId, now, now + this.#d.sessionTtlMs)
    return id
  }

  sessionPrincipal(cookie: string): Principal | undefined {
    const s = this.#d.access.session(hashSecret(cookie))
    if (!s || s.expiresAt <= this.#d.now()) return undefined
    const account = this.#d.accounts.byId(s.userId)
    return account && usable(account) ? this.principalOf(account) : undefined
  }

  endSession(cookie: string): void {
    this.#d.access.deleteSession(hashSecret(cookie))
  }

  async setPassword(account: Account, password: string): Promise<void> {
    this.#d.accounts.setPassword(account.id, await hashPassword(password), this.#d.now())
    this.forgetCredentials()
  }

  #redeem(token: string, prefix: string, kind: 'personal' | 'refresh') {
    if (!token.startsWith(prefix)) return undefined
    const id = token.slice(prefix.length).split('_')[0] ?? ''
    const row = this.#d.access.token(id)
    const now = this.#d.now()
    if (!row || row.kind !== kind || row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt <= now))
      return undefined
    if (!secretMatches(token, row.secretHash)) return undefined
    this.#d.access.tokenUsed(id, now)
    return row
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
    return this.#dummyHash
  }

  /**
   * A login: a success is the user's (or robot's) own event; a failure is nobody's: it names the account tried, as
   * its target and as the actor's name for admins to filter on, but belongs to no account id.
   */
  #record(
    who: Principal | string,
    outcome: 'success' | 'failure',
    address: string,
    detail: Record<string, unknown>,
  ): void {
    const actor =
      typeof who === 'string' ? { kind: 'anonymous' as const, id: null, name: who.slice(0, 200) } : actorOf(who)
    this.#d.events.record({
      actor,
      action: 'login',
      targetType: 'account',
      target: actor.name,
      address,
      outcome,
      detail,
    })
  }
}

function usable(a: Account): boolean {
  return a.kind === 'user' && a.active
}

/** Which kind of secret a name and password pair is: a robot's, a personal access token, or a password. */
export function credentialKind(username: string, password: string): 'robot' | 'personal_token' | 'password' {
  if (username.startsWith(ROBOT_PREFIX)) return 'robot'
  if (password.startsWith(PAT_PREFIX)) return 'personal_token'
  return 'password'
}

export { ANONYMOUS }
