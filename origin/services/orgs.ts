import { ApiError } from '../../lib/api-error.ts'
import type { Account, Team } from '../storage/accounts-store.ts'
import { allow, assertComponent, audit, iso, pageOf, signedIn, type AccountServiceDeps, type Page } from './common.ts'
import type { Caller } from './permissions.ts'

export interface MemberView {
  name: string
  isOwner: boolean
}

export interface TeamView {
  org: string
  name: string
  description: string
  /** The directory group whose members the LDAP sync puts in this team; null for a team managed by hand. */
  ldapGroup: string | null
  createdAt: string
}

export interface TeamInput {
  description?: string
  ldapGroup?: string | null
}

/** What the orgs service works with. */
export type OrgsDeps = AccountServiceDeps

/**
 * Organization members and teams. Members see their organization; its owners (and admins) change it. An
 * organization always keeps at least one owner once it has had one.
 */
export class OrgsService {
  readonly #d: OrgsDeps

  constructor(deps: OrgsDeps) {
    this.#d = deps
  }

  members(caller: Caller, org: string, last: string, limit: number): Page<MemberView> {
    const o = this.#viewable(caller, org)
    return pageOf(this.#d.accounts.members(o.id), (m) => m.name, last, limit)
  }

  /** Adds a user to the organization, or changes whether they own it. */
  setMember(caller: Caller, org: string, user: string, isOwner: boolean): MemberView {
    const o = this.#administered(caller, org)
    const u = this.#user(user)
    const before = this.#d.accounts.membership(o.id, u.id)
    if (before === 'owner' && !isOwner) this.#keepAnOwner(o, u)
    this.#d.accounts.setMember(o.id, u.id, isOwner)
    this.#d.auth.forgetCredentials()
    audit(this.#d.events, caller, before ? 'org.member.update' : 'org.member.add', 'org', org, {
      user: u.name,
      isOwner,
    })
    return { name: u.name, isOwner }
  }

  /** Removes a user from the organization and all of its teams. */
  removeMember(caller: Caller, org: string, user: string): void {
    const o = this.#administered(caller, org)
    const u = this.#user(user)
    const before = this.#d.accounts.membership(o.id, u.id)
    if (!before) throw new ApiError('NOT_FOUND', `${u.name} is not a member of ${org}`)
    if (before === 'owner') this.#keepAnOwner(o, u)
    this.#d.accounts.leaveOrg(o.id, u.id)
    this.#d.auth.forgetCredentials()
    audit(this.#d.events, caller, 'org.member.remove', 'org', org, { user: u.name })
  }

  teams(caller: Caller, org: string, last: string, limit: number): Page<TeamView> {
    const o = this.#viewable(caller, org)
    const page = pageOf(this.#d.accounts.teams(o.id), (t) => t.name, last, limit)
    return { items: page.items.map(teamView), next: page.next }
  }

  team(caller: Caller, org: string, team: string): TeamView {
    this.#viewable(caller, org)
    return teamView(this.#team(org, team))
  }

  createTeam(caller: Caller, org: string, name: string, input: TeamInput): TeamView {
    const o = this.#administered(caller, org)
    assertComponent(name, 'team name')
    if (this.#d.accounts.team(org, name)) throw new ApiError('CONFLICT', `${org} already has a team named ${name}`)
    const team = this.#d.accounts.insertTeam(
      o.id,
      name,
      input.description ?? '',
      input.ldapGroup ?? null,
      this.#d.now(),
    )
    audit(this.#d.events, caller, 'team.create', 'team', `${org}/${name}`, { ldapGroup: team.ldapGroup })
    return teamView(team)
  }

  updateTeam(caller: Caller, org: string, name: string, input: TeamInput): TeamView {
    this.#administered(caller, org)
    const team = this.#team(org, name)
    const description = input.description ?? team.description
    const ldapGroup = input.ldapGroup === undefined ? team.ldapGroup : input.ldapGroup
    this.#d.accounts.updateTeam(team.id, description, ldapGroup)
    audit(this.#d.events, caller, 'team.update', 'team', `${org}/${name}`, { changed: Object.keys(input) })
    return teamView({ ...team, description, ldapGroup })
  }

  /** Deletes a team with its memberships and every grant it held. */
  deleteTeam(caller: Caller, org: string, name: string): void {
    this.#administered(caller, org)
    const team = this.#team(org, name)
    this.#d.accounts.db.transaction(() => {
      this.#d.access.deleteGrantsOf('team', team.id)
      this.#d.accounts.deleteTeam(team.id)
    })()
    this.#d.auth.forgetCredentials()
    audit(this.#d.events, caller, 'team.delete', 'team', `${org}/${name}`)
  }

  teamMembers(caller: Caller, org: string, team: string, last: string, limit: number): Page<string> {
    this.#viewable(caller, org)
    return pageOf(this.#d.accounts.teamMembers(this.#team(org, team).id), (n) => n, last, limit)
  }

  /** Adds a user to a team, and to its organization as a plain member when they were not in it. */
  addTeamMember(caller: Caller, org: string, team: string, user: string): void {
    const o = this.#administered(caller, org)
    const t = this.#team(org, team)
    const u = this.#user(user)
    const wasMember = this.#d.accounts.membership(o.id, u.id) !== undefined
    this.#d.accounts.addTeamMember(t, u.id)
    this.#d.auth.forgetCredentials()
    if (!wasMember)
      audit(this.#d.events, caller, 'org.member.add', 'org', org, {
        user: u.name,
        isOwner: false,
        via: `${org}/${team}`,
      })
    audit(this.#d.events, caller, 'team.member.add', 'team', `${org}/${team}`, { user: u.name })
  }

  removeTeamMember(caller: Caller, org: string, team: string, user: string): void {
    this.#administered(caller, org)
    const t = this.#team(org, team)
    const u = this.#user(user)
    if (!this.#d.accounts.removeTeamMember(t.id, u.id))
      throw new ApiError('NOT_FOUND', `${u.name} is not in ${org}/${team}`)
    this.#d.auth.forgetCredentials()
    audit(this.#d.events, caller, 'team.member.remove', 'team', `${org}/${team}`, { user: u.name })
  }

  /** The organization, when the caller may see it: 404 when it does not exist, 403 when they are not in it. */
  #viewable(caller: Caller, org: string): Account {
    const p = signedIn(caller)
    const o = this.#org(org)
    allow(this.#d.permissions.canViewOrg(p, o.id), `only members of ${org} and admins see its members and teams`)
    return o
  }

  #administered(caller: Caller, org: string): Account {
    const p = signedIn(caller)
    const o = this.#org(org)
    allow(
      this.#d.permissions.ownsNamespace(p, org),
      `only owners of ${org} and admins may change its members and teams`,
    )
    return o
  }

  #keepAnOwner(org: Account, leaving: Account): void {
    const owners = this.#d.accounts.members(org.id).filter((m) => m.isOwner && m.name !== leaving.name)
    if (owners.length === 0)
      throw new ApiError(
        'CONFLICT',
        `${leaving.name} is the last owner of ${org.name}; make another member owner first`,
      )
  }

  #org(name: string): Account {
    const a = this.#d.accounts.byName(name)
    if (!a || a.kind !== 'org') throw new ApiError('NOT_FOUND', `no organization named "${name.slice(0, 100)}"`)
    return a
  }

  #user(name: string): Account {
    const a = this.#d.accounts.byName(name)
    if (!a || a.kind !== 'user') throw new ApiError('NOT_FOUND', `no user named "${name.slice(0, 100)}"`)
    return a
  }

  #team(org: string, name: string): Team {
    const t = this.#d.accounts.team(org, name)
    if (!t) throw new ApiError('NOT_FOUND', `${org} has no team named "${name.slice(0, 100)}"`)
    return t
  }
}

function teamView(t: Team): TeamView {
  return { org: t.org, name: t.name, description: t.description, ldapGroup: t.ldapGroup, createdAt: iso(t.createdAt) }
}
