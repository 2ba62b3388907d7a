import { ApiError } from '../../lib/api-error.ts'
import type { AccessStore, Grant, Role } from '../storage/access-store.ts'
import type { AccountsStore } from '../storage/accounts-store.ts'
import { allow, audit, iso, pageOf, signedIn, type Page } from './common.ts'
import type { Events } from './events.ts'
import { namespaceOf, type Caller, type Permissions } from './permissions.ts'
import type { RepositoriesService } from './repositories.ts'

export type SubjectType = 'user' | 'team'
export type ScopeType = 'namespace' | 'repository'

/** Role names accepted on input: ours, and DTR's spelling of the same three levels. */
export const ROLE_NAMES: Record<string, Role> = {
  read: 'read',
  'read-only': 'read',
  write: 'write',
  'read-write': 'write',
  admin: 'admin',
}

export interface GrantView {
  subjectType: SubjectType
  /** A user's name, or the team's name (teams are always of the namespace's organization). */
  subject: string
  scopeType: ScopeType
  scope: string
  role: Role
  createdAt: string
  createdBy: string
}

export interface GrantsDeps {
  accounts: AccountsStore
  access: AccessStore
  permissions: Permissions
  repositories: RepositoriesService
  events: Events
  now: () => number
}

/**
 * Roles (read, write, admin) given to a user or a team, on one repository or on a whole organization namespace.
 * Repository admins manage a repository's grants; organization owners manage the namespace's.
 */
export class GrantsService {
  readonly #d: GrantsDeps

  constructor(deps: GrantsDeps) {
    this.#d = deps
  }

  list(caller: Caller, scopeType: ScopeType, scope: string, last: string, limit: number): Page<GrantView> {
    this.#authorize(caller, scopeType, scope)
    const views = this.#d.access.grantsOn(scopeType, scope).map((g) => view(g))
    views.sort((a, b) => cmp(keyOf(a), keyOf(b)))
    return pageOf(views, keyOf, last, limit)
  }

  /** The role the subject holds on the scope; 404 when it holds none. */
  get(caller: Caller, scopeType: ScopeType, scope: string, subjectType: SubjectType, subject: string): GrantView {
    this.#authorize(caller, scopeType, scope)
    const grant = this.#find(scopeType, scope, subjectType, this.#subjectId(scope, subjectType, subject))
    if (!grant) throw new ApiError('NOT_FOUND', `${subjectType} ${subject} holds no role on ${scope}`)
    return view(grant)
  }

  /** Gives `role` to the subject on the scope, replacing the role it had there. */
  set(
    caller: Caller,
    scopeType: ScopeType,
    scope: string,
    subjectType: SubjectType,
    subject: string,
    role: Role,
  ): GrantView {
    const p = this.#authorize(caller, scopeType, scope)
    const subjectId = this.#subjectId(scope, subjectType, subject)
    const previous = this.#find(scopeType, scope, subjectType, subjectId)?.role ?? null
    this.#d.access.setGrant({
      subjectType,
      subjectId,
      scopeType,
      scopeName: scope,
      role,
      createdAt: this.#d.now(),
      createdBy: p.name,
    })
    audit(this.#d.events, caller, 'grant.set', scopeType, scope, { subjectType, subject, role, previous })
    return view(this.#find(scopeType, scope, subjectType, subjectId)!)
  }

  delete(caller: Caller, scopeType: ScopeType, scope: string, subjectType: SubjectType, subject: string): void {
    this.#authorize(caller, scopeType, scope)
    const subjectId = this.#subjectId(scope, subjectType, subject)
    const previous = this.#find(scopeType, scope, subjectType, subjectId)?.role
    if (!previous || !this.#d.access.deleteGrant(subjectType, subjectId, scopeType, scope)) {
      throw new ApiError('NOT_FOUND', `${subjectType} ${subject} holds no role on ${scope}`)
    }
    audit(this.#d.events, caller, 'grant.delete', scopeType, scope, { subjectType, subject, previous })
  }

  #authorize(caller: Caller, scopeType: ScopeType, scope: string) {
    const p = signedIn(caller)
    if (scopeType === 'repository') {
      this.#d.repositories.visible(p, scope)
      allow(this.#d.permissions.canAdminRepository(p, scope), `only admins of ${scope} manage its grants`)
      return p
    }
    const ns = this.#d.accounts.byName(scope)
    if (!ns) throw new ApiError('NOT_FOUND', `no organization named "${scope.slice(0, 100)}"`)
    if (ns.kind !== 'org') {
      throw new ApiError(
        'BAD_REQUEST',
        `${scope} is a user's namespace: grant on its repositories one by one, or use an organization`,
      )
    }
    allow(this.#d.permissions.canGrantOnNamespace(p, scope), `only owners of ${scope} and admins manage its grants`)
    return p
  }

  #subjectId(scope: string, subjectType: SubjectType, subject: string): number {
    if (subjectType === 'user') {
      const u = this.#d.accounts.byName(subject)
      if (!u || u.kind !== 'user') throw new ApiError('NOT_FOUND', `no user named "${subject.slice(0, 100)}"`)
      return u.id
    }
    const org = namespaceOf(scope)
    const owner = this.#d.accounts.byName(org)
    if (owner?.kind !== 'org')
      throw new ApiError(
        'BAD_REQUEST',
        `teams can be granted roles only in their organization's namespace; ${org} is not an organization`,
      )
    const team = this.#d.accounts.team(org, subject)
    if (!team) throw new ApiError('NOT_FOUND', `${org} has no team named "${subject.slice(0, 100)}"`)
    return team.id
  }

  #find(scopeType: ScopeType, scope: string, subjectType: SubjectType, subjectId: number): Grant | undefined {
    return this.#d.access
      .grantsOn(scopeType, scope)
      .find((g) => g.subjectType === subjectType && g.subjectId === subjectId)
  }
}

function view(g: Grant): GrantView {
  return {
    subjectType: g.subjectType,
    // teams are stored as `org/team`; within a scope of that organization the team's name says it all
    subject: g.subjectType === 'team' ? g.subject.slice(g.subject.indexOf('/') + 1) : g.subject,
    scopeType: g.scopeType,
    scope: g.scopeName,
    role: g.role,
    createdAt: iso(g.createdAt),
    createdBy: g.createdBy,
  }
}

const keyOf = (g: GrantView) => `${g.subjectType}:${g.subject}`
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
