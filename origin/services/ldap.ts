import {
  AndFilter,
  EqualityFilter,
  FilterParser,
  InvalidCredentialsError,
  NoSuchObjectError,
  type Client,
  type Entry,
} from 'ldapts'
import { schedule, type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import { ApiError } from '../../lib/api-error.ts'
import type { AccessStore } from '../storage/access-store.ts'
import type { Account, AccountsStore } from '../storage/accounts-store.ts'
import type { SettingsStore } from '../storage/settings-store.ts'
import type { AuthService, Directory, DirectoryUser } from './auth.ts'
import { systemActor, type Actor, type Events } from './events.ts'
import { isReservedName } from './reserved-names.ts'
import { describeLdapError, LdapStepError, openLdap, step, valuesOf, withServiceBind } from './ldap-connection.ts'
import {
  LDAP_DEFAULTS,
  LDAP_SETTINGS_KEY,
  isUnderDn,
  normalizeDn,
  publicLdapSettings,
  type LdapSettings,
} from './ldap-settings.ts'
import { applySync, emptySyncResult, memberKeyOf, type DirectorySnapshot, type SyncResult } from './ldap-sync.ts'

export type { SyncResult } from './ldap-sync.ts'
export { LdapStepError } from './ldap-connection.ts'

/** Account names taken from the directory: one namespace component of distribution's name grammar. */
const ACCOUNT_NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
const MAX_ACCOUNT_NAME = 100
/** Users the connection test reads at most. */
const TEST_LIMIT = 50
const PAGE_SIZE = 500

export interface LdapTestResult {
  ok: boolean
  /** Users the search returned, at most 50. */
  usersFound: number
  /** Up to 5 of their account names. */
  sample: string[]
  /** Groups under groupBaseDn matching groupFilter, at most 50; absent without a groupBaseDn. */
  groupsFound?: number
  /** What failed, naming the step: connect, StartTLS, bind, user search, group search. */
  error?: string
}

export interface LdapDeps {
  settings: SettingsStore
  accounts: AccountsStore
  access: AccessStore
  events: Events
  auth: Pick<AuthService, 'forgetCredentials'>
  log: Logger
  now: () => number
}

/**
 * LDAP / Active Directory: logs users in by binding as them, and syncs accounts, team memberships and the admin
 * flag from the directory, on demand and on a cron schedule. Settings live in the settings table (`ldap`).
 */
export class LdapDirectory implements Directory {
  readonly #d: LdapDeps
  readonly #log: Logger
  #running: Promise<SyncResult> | undefined
  #task: ScheduledTask | undefined
  #started = false

  constructor(deps: LdapDeps) {
    this.#d = deps
    this.#log = deps.log
  }

  settings(): LdapSettings {
    return { ...LDAP_DEFAULTS, ...this.#d.settings.get<Partial<LdapSettings>>(LDAP_SETTINGS_KEY) }
  }

  /** Stores new settings (already validated) and reschedules the sync. */
  saveSettings(next: LdapSettings, actor: Actor): void {
    const before = this.settings()
    this.#d.settings.set(LDAP_SETTINGS_KEY, next)
    const changed = (Object.keys(next) as (keyof LdapSettings)[]).filter((k) => next[k] !== before[k])
    this.#d.events.record({
      actor,
      action: 'ldap.settings',
      targetType: 'settings',
      target: 'ldap',
      detail: { changed },
    })
    const { url, enabled, syncSchedule } = publicLdapSettings(next)
    this.#log.info({ changed, url, enabled, syncSchedule }, 'ldap settings changed')
    this.#d.auth.forgetCredentials()
    if (this.#started) this.#schedule()
  }

  enabled(): boolean {
    return this.settings().enabled
  }

  /** The teams mapped to directory groups, whose members the sync sets. */
  teamMappings(): { org: string; team: string; group: string | null }[] {
    return this.#d.accounts.ldapTeams().map((t) => ({ org: t.org, team: t.name, group: t.ldapGroup }))
  }

  /** Maps a team to a directory group (a DN under groupBaseDn); BAD_REQUEST otherwise, NOT_FOUND for no such team. */
  mapTeam(org: string, name: string, group: string, actor: Actor): { org: string; team: string; group: string } {
    const team = this.#team(org, name)
    const dn = group.trim()
    if (dn === '')
      throw new ApiError('BAD_REQUEST', 'group must be a group DN, such as cn=devs,ou=groups,dc=example,dc=com')
    const { groupBaseDn } = this.settings()
    if (!isUnderDn(dn, groupBaseDn)) {
      throw new ApiError(
        'BAD_REQUEST',
        groupBaseDn ? `group must be under groupBaseDn (${groupBaseDn})` : 'set groupBaseDn in the LDAP settings first',
      )
    }
    this.#d.accounts.updateTeam(team.id, team.description, dn)
    this.#recordMapping(team, dn, actor)
    return { org: team.org, team: team.name, group: dn }
  }

  /** Unmaps a team; its members stay until changed by hand. */
  unmapTeam(org: string, name: string, actor: Actor): void {
    const team = this.#team(org, name)
    this.#d.accounts.updateTeam(team.id, team.description, null)
    this.#recordMapping(team, null, actor)
  }

  #team(org: string, name: string) {
    const team = this.#d.accounts.team(org, name)
    if (!team) throw new ApiError('NOT_FOUND', `no team ${org}/${name}`)
    return team
  }

  #recordMapping(team: { org: string; name: string }, group: string | null, actor: Actor): void {
    this.#d.events.record({
      actor,
      action: 'team.ldap-group',
      targetType: 'team',
      target: `${team.org}/${team.name}`,
      detail: { group },
    })
  }

  async authenticate(username: string, password: string): Promise<DirectoryUser | undefined> {
    // RFC 4513 §5.1.2: a DN with an empty password is an "unauthenticated" bind that servers may accept as
    // anonymous, so an empty password must never reach a bind (go-ldap's CVE-2017-14623)
    if (password === '' || username === '' || username.length > 256) return undefined
    const s = this.settings()
    if (!s.enabled) return undefined
    let user: DirectoryUser | undefined
    try {
      user = await withServiceBind(s, async (client) => {
        const filter = new AndFilter({
          filters: [
            FilterParser.parseString(s.userFilter),
            new EqualityFilter({ attribute: s.usernameAttribute, value: username }),
          ],
        })
        const entries = await step(
          'user search',
          client.search(s.userBaseDn, { scope: 'sub', filter, attributes: userAttributes(s), sizeLimit: 2 }),
        )
        if (entries.searchEntries.length > 1)
          this.#log.warn({ username }, 'ldap login: the name matches several directory entries; refused')
        const entry = entries.searchEntries.length === 1 ? entries.searchEntries[0] : undefined
        return entry && this.#toUser(s, entry)
      })
    } catch (err) {
      this.#log.error({ err, username }, 'ldap login: directory unavailable')
      return undefined
    }
    if (!user) return undefined
    const client = await openLdap(s).catch((err: unknown) => {
      this.#log.error({ err, username }, 'ldap login: directory unavailable')
      return undefined
    })
    if (!client) return undefined
    try {
      await client.bind(user.dn, password)
    } catch (err) {
      if (!(err instanceof InvalidCredentialsError))
        this.#log.error({ err, dn: user.dn }, 'ldap login: bind as the user failed')
      return undefined
    } finally {
      await client.unbind().catch(() => {})
    }
    // the account name must be free for this entry: not a local account or organization, not another entry's
    const holder = this.#d.accounts.byName(user.username)
    const linked = this.#d.accounts.byLdapDn(user.dn)
    const taken =
      holder !== undefined &&
      (holder.source !== 'ldap' ||
        holder.kind !== 'user' ||
        (linked !== undefined && linked.id !== holder.id) ||
        // a moved entry under another spelling would collide on insert; the sync (or the exact name) relinks it
        (linked === undefined && username !== user.username))
    if (taken) {
      this.#log.warn(
        { username: user.username, dn: user.dn },
        'ldap login: the account name belongs to another account; refused',
      )
      return undefined
    }
    return user
  }

  /** Sets the user's mapped team memberships and admin flag from the groups they are in now. */
  async afterLogin(account: Account): Promise<void> {
    const s = this.settings()
    const teams = this.#d.accounts.ldapTeams()
    if (!s.enabled || account.ldapDn === null || (teams.length === 0 && s.adminGroupDn === '')) return
    const groupDns = [...new Set([...teams.map((t) => t.ldapGroup!), ...(s.adminGroupDn ? [s.adminGroupDn] : [])])]
    const member = new Map<string, boolean>()
    const value = s.groupMemberAttribute.toLowerCase() === 'memberuid' ? account.name : account.ldapDn
    try {
      await withServiceBind(s, async (client) => {
        for (const dn of groupDns) {
          const filter = new AndFilter({
            filters: [
              FilterParser.parseString(s.groupFilter),
              new EqualityFilter({ attribute: s.groupMemberAttribute, value }),
            ],
          })
          try {
            const r = await client.search(dn, { scope: 'base', filter, attributes: ['1.1'] })
            member.set(normalizeDn(dn), r.searchEntries.length > 0)
          } catch (err) {
            // a missing group changes nothing, as in the sync
            if (!(err instanceof NoSuchObjectError)) throw new LdapStepError(`read group ${dn}`, err)
            this.#log.warn({ group: dn }, 'ldap login: mapped group not found')
          }
        }
      })
    } catch (err) {
      // the login still succeeds, with the memberships it had
      this.#log.error({ err, user: account.name }, 'ldap login: could not read group memberships')
      return
    }
    let changed = false
    for (const team of teams) {
      const isMember = member.get(normalizeDn(team.ldapGroup!))
      if (isMember === undefined) continue
      const has = this.#d.accounts.teamIdsOf(account.id).includes(team.id)
      if (isMember && !has) this.#d.accounts.addTeamMember(team, account.id)
      if (!isMember && has) this.#d.accounts.removeTeamMember(team.id, account.id)
      if (isMember !== has) {
        changed = true
        this.#d.events.record({
          actor: systemActor('ldap'),
          action: isMember ? 'team.member.add' : 'team.member.remove',
          targetType: 'team',
          target: `${team.org}/${team.name}`,
          detail: { user: account.name, source: 'login' },
        })
      }
    }
    const isAdmin = s.adminGroupDn ? member.get(normalizeDn(s.adminGroupDn)) : undefined
    if (isAdmin !== undefined && isAdmin !== account.isAdmin) {
      changed = true
      this.#d.accounts.update({ ...account, isAdmin }, this.#d.now())
      this.#d.events.record({
        actor: systemActor('ldap'),
        action: 'account.update',
        targetType: 'account',
        target: account.name,
        detail: { admin: isAdmin, source: 'login' },
      })
    }
    if (changed) this.#d.auth.forgetCredentials()
  }

  /** Connects, binds as the service account and runs the user (and group) search with a small limit. Never throws. */
  async test(s: LdapSettings = this.settings()): Promise<LdapTestResult> {
    if (s.url === '' || s.userBaseDn === '')
      return { ok: false, usersFound: 0, sample: [], error: 'url and userBaseDn are required' }
    try {
      return await withServiceBind(s, async (client) => {
        const users = await step(
          `user search under ${s.userBaseDn}`,
          client.search(s.userBaseDn, {
            scope: 'sub',
            filter: s.userFilter,
            attributes: userAttributes(s),
            sizeLimit: TEST_LIMIT,
          }),
        )
        const result: LdapTestResult = {
          ok: true,
          usersFound: users.searchEntries.length,
          sample: users.searchEntries.slice(0, 5).map((e) => usernameOf(s, e)),
        }
        if (s.groupBaseDn !== '') {
          const groups = await step(
            `group search under ${s.groupBaseDn}`,
            client.search(s.groupBaseDn, {
              scope: 'sub',
              filter: s.groupFilter,
              attributes: ['1.1'],
              sizeLimit: TEST_LIMIT,
            }),
          )
          result.groupsFound = groups.searchEntries.length
        }
        return result
      })
    } catch (err) {
      return {
        ok: false,
        usersFound: 0,
        sample: [],
        error: describeLdapError(err),
      }
    }
  }

  /**
   * Reads every directory user and every mapped group, then applies them in one transaction (see ldap-sync.ts).
   * A sync asked for while one runs joins it. Never throws: failures are in the result.
   */
  sync(actor: Actor = systemActor('system')): Promise<SyncResult> {
    this.#running ??= this.#sync(actor).finally(() => (this.#running = undefined))
    return this.#running
  }

  /** Schedules the sync (settings' syncSchedule); called by main.ts, not at import or construction. */
  start(): void {
    this.#started = true
    this.#schedule()
  }

  /** Stops the schedule and waits for a running sync. */
  async stop(): Promise<void> {
    this.#started = false
    await this.#task?.destroy()
    this.#task = undefined
    await this.#running?.catch(() => {})
  }

  #schedule(): void {
    void this.#task?.destroy()
    this.#task = undefined
    const s = this.settings()
    if (!this.#started || !s.enabled || s.syncSchedule === '') return
    const log = this.#log
    this.#task = schedule(
      s.syncSchedule,
      async () => {
        await this.sync(systemActor('schedule'))
      },
      {
        name: 'ldap-sync',
        noOverlap: true,
        logger: {
          info: (m) => log.debug({ scheduler: m }, 'ldap sync scheduler'),
          warn: (m) => log.warn({ scheduler: m }, 'ldap sync scheduler'),
          error: (m, err) => log.error({ err: err ?? m }, 'ldap sync scheduler'),
          debug: (m) => log.debug({ scheduler: String(m) }, 'ldap sync scheduler'),
        },
      },
    )
    log.info({ schedule: s.syncSchedule }, 'ldap sync scheduled')
  }

  async #sync(actor: Actor): Promise<SyncResult> {
    const s = this.settings()
    const startedAt = this.#d.now()
    let result: SyncResult
    if (!s.enabled) {
      result = { ...emptySyncResult(startedAt), ok: false, errors: ['LDAP is disabled'] }
    } else {
      try {
        const snapshot = await withServiceBind(s, (client) => this.#read(client, s))
        result = applySync(snapshot, { ...this.#d, adminGroupDn: s.adminGroupDn, startedAt })
      } catch (err) {
        result = {
          ...emptySyncResult(startedAt),
          ok: false,
          errors: [describeLdapError(err)],
        }
      }
    }
    result.durationMs = this.#d.now() - startedAt
    this.#d.auth.forgetCredentials()
    const { errors, ...counts } = result
    this.#d.events.record({
      actor,
      action: 'ldap.sync',
      targetType: 'settings',
      target: 'ldap',
      outcome: result.ok ? 'success' : 'failure',
      detail: { ...counts, errors: errors.slice(0, 20) },
    })
    const level = !result.ok ? 'error' : result.guardTriggered || errors.length > 0 ? 'warn' : 'info'
    this.#log[level]({ actor, ...counts, errors: errors.slice(0, 20) }, 'ldap sync finished')
    return result
  }

  async #read(client: Client, s: LdapSettings): Promise<DirectorySnapshot> {
    const found = await step(
      `user search under ${s.userBaseDn}`,
      client.search(s.userBaseDn, {
        scope: 'sub',
        filter: s.userFilter,
        attributes: userAttributes(s),
        paged: { pageSize: PAGE_SIZE },
      }),
    )
    const problems: string[] = []
    const users: DirectoryUser[] = []
    for (const entry of found.searchEntries) {
      const user = this.#toUser(s, entry)
      if (user) users.push(user)
      else
        problems.push(
          `${entry.dn}: "${usernameOf(s, entry)}" (${s.usernameAttribute}) is not a valid account name; skipped`,
        )
    }
    const byName = s.groupMemberAttribute.toLowerCase() === 'memberuid'
    const groups = new Map<string, Set<string> | undefined>()
    const groupDns = [
      ...this.#d.accounts.ldapTeams().map((t) => t.ldapGroup!),
      ...(s.adminGroupDn ? [s.adminGroupDn] : []),
    ]
    for (const dn of groupDns) {
      const key = normalizeDn(dn)
      if (groups.has(key)) continue
      try {
        const r = await client.search(dn, {
          scope: 'base',
          filter: s.groupFilter,
          attributes: [s.groupMemberAttribute],
        })
        const entry = r.searchEntries[0]
        groups.set(
          key,
          entry ? new Set(valuesOf(entry, s.groupMemberAttribute).map((v) => memberKeyOf(v, byName))) : undefined,
        )
      } catch (err) {
        if (!(err instanceof NoSuchObjectError)) throw new LdapStepError(`read group ${dn}`, err)
        groups.set(key, undefined)
      }
    }
    return {
      users,
      entryDns: new Set(found.searchEntries.map((e) => normalizeDn(e.dn))),
      entriesFound: found.searchEntries.length,
      groups,
      memberBy: byName ? 'name' : 'dn',
      problems,
    }
  }

  #toUser(s: LdapSettings, entry: Entry): DirectoryUser | undefined {
    const username = usernameOf(s, entry)
    if (username.length > MAX_ACCOUNT_NAME || !ACCOUNT_NAME_RE.test(username)) {
      this.#log.warn({ dn: entry.dn, username }, 'ldap: directory name is not a valid account name; skipped')
      return undefined
    }
    if (isReservedName(username)) {
      this.#log.warn({ dn: entry.dn, username }, 'ldap: directory name is one Wharf keeps for itself; skipped')
      return undefined
    }
    return {
      dn: entry.dn,
      username,
      fullName: valuesOf(entry, s.fullNameAttribute)[0] ?? '',
      email: valuesOf(entry, s.emailAttribute)[0] ?? '',
    }
  }
}

function userAttributes(s: LdapSettings): string[] {
  return [s.usernameAttribute, s.fullNameAttribute, s.emailAttribute]
}

function usernameOf(s: LdapSettings, entry: Entry): string {
  return (valuesOf(entry, s.usernameAttribute)[0] ?? '').toLowerCase()
}
