import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'

export type AccountKind = 'user' | 'org'

export interface Account {
  id: number
  name: string
  kind: AccountKind
  fullName: string
  email: string
  passwordHash: string | null
  source: 'local' | 'ldap'
  ldapDn: string | null
  isAdmin: boolean
  active: boolean
  createdAt: number
  updatedAt: number
}

export interface Team {
  id: number
  orgId: number
  org: string
  name: string
  description: string
  ldapGroup: string | null
  createdAt: number
}

const ACCOUNT_COLUMNS = `id, name, kind, full_name AS fullName, email, password_hash AS passwordHash, source,
  ldap_dn AS ldapDn, is_admin AS isAdmin, active, created_at AS createdAt, updated_at AS updatedAt`
const TEAM_COLUMNS = `t.id, t.org_id AS orgId, a.name AS org, t.name, t.description, t.ldap_group AS ldapGroup,
  t.created_at AS createdAt`

type RawAccount = Omit<Account, 'isAdmin' | 'active'> & { isAdmin: number; active: number }
const toAccount = (r: RawAccount | undefined): Account | undefined =>
  r && { ...r, isAdmin: r.isAdmin === 1, active: r.active === 1 }

/** Accounts (users and organizations), organization membership and teams. */
export class AccountsStore {
  readonly db: Db
  readonly #s: Record<string, Statement>

  constructor(db: Db) {
    this.db = db
    const p = (sql: string) => db.prepare(sql)
    this.#s = {
      byName: p(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE name = ?`),
      byId: p(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`),
      byDn: p(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE ldap_dn = ?`),
      page: p(
        `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE (? IS NULL OR kind = ?) AND name > ? ORDER BY name LIMIT ?`,
      ),
      ldapUsers: p(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE kind = 'user' AND source = 'ldap'`),
      insert: p(`INSERT INTO accounts (name, kind, full_name, email, password_hash, source, ldap_dn, is_admin, active,
                   created_at, updated_at) VALUES (@name, @kind, @fullName, @email, @passwordHash, @source, @ldapDn,
                   @isAdmin, 1, @now, @now)`),
      update: p(`UPDATE accounts SET full_name = @fullName, email = @email, is_admin = @isAdmin, active = @active,
                   ldap_dn = @ldapDn, updated_at = @now WHERE id = @id`),
      setPassword: p('UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?'),
      delete: p('DELETE FROM accounts WHERE id = ?'),
      countAdmins: p(`SELECT count(*) FROM accounts WHERE kind = 'user' AND is_admin = 1 AND active = 1`).pluck(),
      memberUpsert: p(`INSERT INTO org_members (org_id, user_id, is_owner) VALUES (?, ?, ?)
                       ON CONFLICT DO UPDATE SET is_owner = excluded.is_owner`),
      memberEnsure: p('INSERT INTO org_members (org_id, user_id, is_owner) VALUES (?, ?, 0) ON CONFLICT DO NOTHING'),
      memberDelete: p('DELETE FROM org_members WHERE org_id = ? AND user_id = ?'),
      memberTeamsDelete: p(
        'DELETE FROM team_members WHERE user_id = ? AND team_id IN (SELECT id FROM teams WHERE org_id = ?)',
      ),
      member: p('SELECT is_owner FROM org_members WHERE org_id = ? AND user_id = ?').pluck(),
      members: p(`SELECT a.name, m.is_owner AS isOwner FROM org_members m JOIN accounts a ON a.id = m.user_id
                  WHERE m.org_id = ? ORDER BY a.name`),
      orgsOf: p(`SELECT a.name, m.is_owner AS isOwner FROM org_members m JOIN accounts a ON a.id = m.org_id
                 WHERE m.user_id = ? ORDER BY a.name`),
      teamInsert: p(`INSERT INTO teams (org_id, name, description, ldap_group, created_at) VALUES (?, ?, ?, ?, ?)`),
      teamUpdate: p('UPDATE teams SET description = ?, ldap_group = ? WHERE id = ?'),
      teamDelete: p('DELETE FROM teams WHERE id = ?'),
      team: p(`SELECT ${TEAM_COLUMNS} FROM teams t JOIN accounts a ON a.id = t.org_id WHERE a.name = ? AND t.name = ?`),
      teamById: p(`SELECT ${TEAM_COLUMNS} FROM teams t JOIN accounts a ON a.id = t.org_id WHERE t.id = ?`),
      teams: p(
        `SELECT ${TEAM_COLUMNS} FROM teams t JOIN accounts a ON a.id = t.org_id WHERE t.org_id = ? ORDER BY t.name`,
      ),
      ldapTeams: p(
        `SELECT ${TEAM_COLUMNS} FROM teams t JOIN accounts a ON a.id = t.org_id WHERE t.ldap_group IS NOT NULL`,
      ),
      teamMemberAdd: p('INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      teamMemberDelete: p('DELETE FROM team_members WHERE team_id = ? AND user_id = ?'),
      teamMembers: p(`SELECT a.name FROM team_members tm JOIN accounts a ON a.id = tm.user_id WHERE tm.team_id = ?
                      ORDER BY a.name`).pluck(),
      teamIdsOf: p('SELECT team_id FROM team_members WHERE user_id = ?').pluck(),
      teamsOf: p(`SELECT ${TEAM_COLUMNS} FROM team_members tm JOIN teams t ON t.id = tm.team_id
                  JOIN accounts a ON a.id = t.org_id WHERE tm.user_id = ? ORDER BY a.name, t.name`),
    }
  }

  byName(name: string): Account | undefined {
    return toAccount(this.#s.byName!.get(name) as RawAccount | undefined)
  }

  byId(id: number): Account | undefined {
    return toAccount(this.#s.byId!.get(id) as RawAccount | undefined)
  }

  byLdapDn(dn: string): Account | undefined {
    return toAccount(this.#s.byDn!.get(dn) as RawAccount | undefined)
  }

  /** Accounts after `last` in name order, optionally of one kind; one more than `limit` tells whether more follow. */
  page(kind: AccountKind | undefined, last: string, limit: number): Account[] {
    return (this.#s.page!.all(kind ?? null, kind ?? null, last, limit) as RawAccount[]).map((r) => toAccount(r)!)
  }

  ldapUsers(): Account[] {
    return (this.#s.ldapUsers!.all() as RawAccount[]).map((r) => toAccount(r)!)
  }

  insert(a: {
    name: string
    kind: AccountKind
    fullName?: string
    email?: string
    passwordHash?: string | null
    source?: 'local' | 'ldap'
    ldapDn?: string | null
    isAdmin?: boolean
    now: number
  }): Account {
    const info = this.#s.insert!.run({
      name: a.name,
      kind: a.kind,
      fullName: a.fullName ?? '',
      email: a.email ?? '',
      passwordHash: a.passwordHash ?? null,
      source: a.source ?? 'local',
      ldapDn: a.ldapDn ?? null,
      isAdmin: a.isAdmin ? 1 : 0,
      now: a.now,
    })
    return this.byId(Number(info.lastInsertRowid))!
  }

  update(a: Account, now: number): void {
    this.#s.update!.run({
      id: a.id,
      fullName: a.fullName,
      email: a.email,
      isAdmin: a.isAdmin ? 1 : 0,
      active: a.active ? 1 : 0,
      ldapDn: a.ldapDn,
      now,
    })
  }

  setPassword(id: number, hash: string | null, now: number): void {
    this.#s.setPassword!.run(hash, now, id)
  }

  delete(id: number): void {
    this.#s.delete!.run(id)
  }

  activeAdminCount(): number {
    return this.#s.countAdmins!.get() as number
  }

  setMember(orgId: number, userId: number, isOwner: boolean): void {
    this.#s.memberUpsert!.run(orgId, userId, isOwner ? 1 : 0)
  }

  removeMember(orgId: number, userId: number): boolean {
    return this.#s.memberDelete!.run(orgId, userId).changes > 0
  }

  /** Removes a user from an organization and from every team of it; false when they were not a member. */
  leaveOrg(orgId: number, userId: number): boolean {
    return this.db.transaction(() => {
      this.#s.memberTeamsDelete!.run(userId, orgId)
      return this.#s.memberDelete!.run(orgId, userId).changes > 0
    })()
  }

  /** 'owner' | 'member' | undefined */
  membership(orgId: number, userId: number): 'owner' | 'member' | undefined {
    const v = this.#s.member!.get(orgId, userId) as number | undefined
    return v === undefined ? undefined : v === 1 ? 'owner' : 'member'
  }

  members(orgId: number): { name: string; isOwner: boolean }[] {
    return (this.#s.members!.all(orgId) as { name: string; isOwner: number }[]).map((m) => ({
      ...m,
      isOwner: m.isOwner === 1,
    }))
  }

  orgsOf(userId: number): { name: string; isOwner: boolean }[] {
    return (this.#s.orgsOf!.all(userId) as { name: string; isOwner: number }[]).map((m) => ({
      ...m,
      isOwner: m.isOwner === 1,
    }))
  }

  insertTeam(orgId: number, name: string, description: string, ldapGroup: string | null, now: number): Team {
    const info = this.#s.teamInsert!.run(orgId, name, description, ldapGroup, now)
    return this.#s.teamById!.get(Number(info.lastInsertRowid)) as Team
  }

  updateTeam(id: number, description: string, ldapGroup: string | null): void {
    this.#s.teamUpdate!.run(description, ldapGroup, id)
  }

  deleteTeam(id: number): void {
    this.#s.teamDelete!.run(id)
  }

  team(org: string, name: string): Team | undefined {
    return this.#s.team!.get(org, name) as Team | undefined
  }

  teamById(id: number): Team | undefined {
    return this.#s.teamById!.get(id) as Team | undefined
  }

  teams(orgId: number): Team[] {
    return this.#s.teams!.all(orgId) as Team[]
  }

  ldapTeams(): Team[] {
    return this.#s.ldapTeams!.all() as Team[]
  }

  /** Adds a user to a team, and to the team's organization as a member if they were not in it. */
  addTeamMember(team: Team, userId: number): void {
    this.db.transaction(() => {
      this.#s.memberEnsure!.run(team.orgId, userId)
      this.#s.teamMemberAdd!.run(team.id, userId)
    })()
  }

  removeTeamMember(teamId: number, userId: number): boolean {
    return this.#s.teamMemberDelete!.run(teamId, userId).changes > 0
  }

  teamMembers(teamId: number): string[] {
    return this.#s.teamMembers!.all(teamId) as string[]
  }

  teamIdsOf(userId: number): number[] {
    return this.#s.teamIdsOf!.all(userId) as number[]
  }

  teamsOf(userId: number): Team[] {
    return this.#s.teamsOf!.all(userId) as Team[]
  }
}
