import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { OriginConfig } from './config.ts'
import { TokenAccessController } from './http/token-access.ts'
import { AuthService } from './services/auth.ts'
import { Events, systemActor } from './services/events.ts'
import { KeyRing } from './services/keys.ts'
import { LdapDirectory } from './services/ldap.ts'
import { LoginLimiter } from './services/login-limiter.ts'
import { hashPassword } from './services/passwords.ts'
import { Permissions } from './services/permissions.ts'
import { TokenService } from './services/tokens.ts'
import { AccessStore } from './storage/access-store.ts'
import { AccountsStore } from './storage/accounts-store.ts'
import type { Db } from './storage/db.ts'
import { EventsStore } from './storage/events-store.ts'
import type { Metadata } from './storage/metadata.ts'
import { SettingsStore } from './storage/settings-store.ts'

export interface Identity {
  accounts: AccountsStore
  accessStore: AccessStore
  settings: SettingsStore
  events: Events
  permissions: Permissions
  keys: KeyRing
  tokens: TokenService
  auth: AuthService
  access: TokenAccessController
  /** LDAP / Active Directory logins and sync; main.ts starts its schedule. */
  ldap: LdapDirectory
  /** Set on the very first start when the admin password was generated: print it once. */
  bootstrap?: { username: string; password: string }
}

/** Builds accounts, permissions, tokens and the /v2 access controller; creates the first admin on a fresh database. */
export async function createIdentity(
  config: Readonly<OriginConfig>,
  db: Db,
  meta: Metadata,
  log: Logger,
  now: () => number,
): Promise<Identity> {
  const accounts = new AccountsStore(db)
  const accessStore = new AccessStore(db)
  const settings = new SettingsStore(db)
  const events = new Events(new EventsStore(db), now, log.child({ component: 'events' }))
  const permissions = new Permissions({ accounts, access: accessStore, meta, settings })
  const keys = new KeyRing(join(config.dataDir, 'keys'), { keepRetiredMs: config.tokenTtlMs + 60 * 60_000, now })
  await keys.init()
  const tokens = new TokenService({
    keys,
    permissions,
    issuer: config.publicUrl.origin,
    service: config.tokenService ?? config.publicUrl.host,
    ttlSeconds: Math.round(config.tokenTtlMs / 1000),
    now,
  })
  const auth = new AuthService({
    accounts,
    access: accessStore,
    events,
    limiter: new LoginLimiter(db, { now }),
    now,
    log: log.child({ component: 'auth' }),
    refreshTtlMs: config.refreshTokenTtlMs,
    sessionTtlMs: config.sessionTtlMs,
  })
  const ldap = new LdapDirectory({ settings, accounts, access: accessStore, events, auth, log: log.child({ component: 'ldap' }), now })
  auth.directory = ldap
  const access = new TokenAccessController({
    tokens,
    permissions,
    meta,
    realm: new URL('/auth/token', config.publicUrl).href,
    now,
  })
  let bootstrap: Identity['bootstrap']
  if (accounts.activeAdminCount() === 0 && !accounts.byName(config.adminUser)) {
    const password = config.adminPassword ?? randomBytes(18).toString('base64url')
    accounts.insert({ name: config.adminUser, kind: 'user', passwordHash: await hashPassword(password), isAdmin: true, now: now() })
    events.record({ actor: systemActor('system'), action: 'account.create', targetType: 'account', target: config.adminUser, detail: { admin: true } })
    if (!config.adminPassword) bootstrap = { username: config.adminUser, password }
  }
  return { accounts, accessStore, settings, events, permissions, keys, tokens, auth, access, ldap, bootstrap }
}
