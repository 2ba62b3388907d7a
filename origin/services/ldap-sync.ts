import type { AccessStore } from '../storage/access-store.ts'
import type { Account, AccountsStore } from '../storage/accounts-store.ts'
import type { SettingsStore } from '../storage/settings-store.ts'
import type { DirectoryUser } from './auth.ts'
import { systemActor, type Events } from './events.ts'
import { normalizeDn } from './ldap-settings.ts'

/** What one sync read from the directory; nothing is written until all of it was read. */
export interface DirectorySnapshot {
  /** Entries of the user search with a usable account name. */
  users: DirectoryUser[]
  /** Normalized DNs of every entry the user search returned, usable name or not. */
  entryDns: Set<string>
  entriesFound: number
  /** Normalized group DN → member keys (see memberKeyOf); undefined for a group that was not found. */
  groups: Map<string, Set<string> | undefined>
  /** `dn` for member/uniqueMember, `name` for memberUid. */
  memberBy: 'dn' | 'name'
  /** Entries skipped, as messages for the result. */
  problems: string[]
}

export interface SyncResult {
  /** False when the directory could not be read; nothing was changed then. */
  ok: boolean
  startedAt: string
  durationMs: number
  /** Directory users with a usable account name. */
  usersFound: number
  created: number
  /** Accounts whose name, email or DN changed. */
  updated: number
  /** Accounts this sync had deactivated earlier that are back in the directory. */
  reactivated: number
  deactivated: number
  /** Personal and refresh tokens revoked with the deactivated accounts. */
  tokensRevoked: number
  teamMembershipsAdded: number
  teamMembershipsRemoved: number
  adminsGranted: number
  adminsRevoked: number
  /** The user search returned nobody while directory accounts are active: nobody was deactivated. */
  guardTriggered: boolean
  errors: string[]
}

export interface SyncDeps {
  accounts: AccountsStore
  access: AccessStore
  events: Events
  settings: SettingsStore
  now: () => number
  adminGroupDn: string
  startedAt: number
}

/** Ids of accounts a sync deactivated: only those are reactivated when they come back (an admin's choice stands). */
const DEACTIVATED_KEY = 'ldap.deactivated'
const MAX_ERRORS = 100

export function emptySyncResult(startedAt: number): SyncResult {
  return {
    ok: true,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: 0,
    usersFound: 0,
    created: 0,
    updated: 0,
    reactivated: 0,
    deactivated: 0,
    tokensRevoked: 0,
    teamMembershipsAdded: 0,
    teamMembershipsRemoved: 0,
    adminsGranted: 0,
    adminsRevoked: 0,
    guardTriggered: false,
    errors: [],
  }
}

/** How a group member value is compared: a normalized DN (uniqueMember's `#'…'B` suffix dropped), or a name. */
export function memberKeyOf(value: string, byName: boolean): string {
  return byName ? value.toLowerCase() : normalizeDn(value.replace(/#'[01]*'B$/, ''))
}

/**
 * Applies a directory snapshot in one transaction:
 *   1. each directory user gets an account (created when missing; name, email and DN updated; reactivated when
 *      this sync had deactivated it); a name held by a local account or an organization is an error;
 *   2. active directory accounts whose entry is gone are deactivated and their tokens and sessions revoked,
 *      unless the search returned nobody at all (guardTriggered: a wrong base DN or filter must not lock
 *      everyone out);
 *   3. each team with an LDAP group gets exactly the group's members that have active directory accounts; a
 *      group that was not found leaves its team alone;
 *   4. with an admin group, directory accounts are administrators exactly when they are its members.
 */
export function applySync(snap: DirectorySnapshot, d: SyncDeps): SyncResult {
  const r = emptySyncResult(d.startedAt)
  const { accounts, access, events } = d
  const now = d.now()
  const record = (action: string, targetType: string, target: string, detail: Record<string, unknown>) =>
    events.record({ actor: systemActor('ldap'), action, targetType, target, detail: { ...detail, source: 'sync' } })
  r.usersFound = snap.users.length
  r.errors.push(...snap.problems)
  const keyOf = (a: Account) =>
    snap.memberBy === 'name' ? a.name : a.ldapDn === null ? undefined : normalizeDn(a.ldapDn)

  accounts.db.transaction(() => {
    const deactivatedBySync = new Set(d.settings.get<number[]>(DEACTIVATED_KEY) ?? [])
    const seen = new Set<number>()

    for (const u of snap.users) {
      const holder = accounts.byName(u.username)
      let account = accounts.byLdapDn(u.dn)
      if (!account && holder) {
        // a moved entry keeps its account; a name held by someone else is a conflict
        const movable =
          holder.source === 'ldap' &&
          holder.kind === 'user' &&
          (holder.ldapDn === null || !snap.entryDns.has(normalizeDn(holder.ldapDn)))
        if (!movable) {
          r.errors.push(`${u.dn}: the name "${u.username}" belongs to another account; not imported`)
          continue
        }
        account = holder
      }
      if (!account) {
        const created = accounts.insert({
          name: u.username,
          kind: 'user',
          fullName: u.fullName,
          email: u.email,
          source: 'ldap',
          ldapDn: u.dn,
          now,
        })
        seen.add(created.id)
        r.created++
        record('account.create', 'account', created.name, {})
        continue
      }
      seen.add(account.id)
      const next: Account = { ...account, fullName: u.fullName, email: u.email, ldapDn: u.dn }
      const changed =
        next.fullName !== account.fullName || next.email !== account.email || next.ldapDn !== account.ldapDn
      if (changed) r.updated++
      if (!account.active && deactivatedBySync.has(account.id)) {
        next.active = true
        deactivatedBySync.delete(account.id)
        r.reactivated++
        record('account.reactivate', 'account', account.name, {})
      }
      if (changed || next.active !== account.active) accounts.update(next, now)
    }

    const active = accounts.ldapUsers().filter((a) => a.active)
    if (snap.entriesFound === 0 && active.length > 0) {
      r.guardTriggered = true
      r.errors.push(
        `the user search returned nobody while ${active.length} directory account(s) are active: nobody was deactivated (check userBaseDn and userFilter)`,
      )
    } else {
      for (const a of active) {
        if (seen.has(a.id) || (a.ldapDn !== null && snap.entryDns.has(normalizeDn(a.ldapDn)))) continue
        accounts.update({ ...a, active: false }, now)
        const revoked = access.revokeAllOf(a.id, now)
        deactivatedBySync.add(a.id)
        r.deactivated++
        r.tokensRevoked += revoked
        record('account.deactivate', 'account', a.name, { reason: 'not in the directory', tokensRevoked: revoked })
      }
    }
    for (const id of deactivatedBySync) {
      if (accounts.byId(id)?.active !== false) deactivatedBySync.delete(id)
    }
    d.settings.set(DEACTIVATED_KEY, [...deactivatedBySync])

    const byKey = new Map<string, Account>()
    for (const a of accounts.ldapUsers()) {
      const key = keyOf(a)
      if (a.active && key !== undefined) byKey.set(key, a)
    }
    for (const team of accounts.ldapTeams()) {
      const members = snap.groups.get(normalizeDn(team.ldapGroup!))
      if (!members) {
        r.errors.push(
          `team ${team.org}/${team.name}: group "${team.ldapGroup}" not found or not matching groupFilter; its members were left alone`,
        )
        continue
      }
      const want = new Map<number, Account>()
      for (const key of members) {
        const a = byKey.get(key)
        if (a) want.set(a.id, a)
      }
      const have = new Map<number, string>()
      for (const name of accounts.teamMembers(team.id)) {
        const a = accounts.byName(name)
        if (a) have.set(a.id, a.name)
      }
      for (const [id, a] of want) {
        if (have.has(id)) continue
        accounts.addTeamMember(team, id)
        r.teamMembershipsAdded++
        record('team.member.add', 'team', `${team.org}/${team.name}`, { user: a.name })
      }
      for (const [id, name] of have) {
        if (want.has(id)) continue
        accounts.removeTeamMember(team.id, id)
        r.teamMembershipsRemoved++
        record('team.member.remove', 'team', `${team.org}/${team.name}`, { user: name })
      }
    }

    if (d.adminGroupDn !== '') {
      const members = snap.groups.get(normalizeDn(d.adminGroupDn))
      if (!members) {
        r.errors.push(
          `admin group "${d.adminGroupDn}" not found or not matching groupFilter; admin flags were left alone`,
        )
      } else {
        for (const a of accounts.ldapUsers()) {
          const key = keyOf(a)
          const isAdmin = key !== undefined && members.has(key)
          if (isAdmin === a.isAdmin) continue
          accounts.update({ ...a, isAdmin }, now)
          if (isAdmin) r.adminsGranted++
          else r.adminsRevoked++
          record('account.update', 'account', a.name, { admin: isAdmin })
        }
      }
    }
  })()
  if (r.errors.length > MAX_ERRORS)
    r.errors = [...r.errors.slice(0, MAX_ERRORS), `… and ${r.errors.length - MAX_ERRORS} more`]
  return r
}
